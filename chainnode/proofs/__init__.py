"""Proof bundles: build them from the ledger, verify them offline from genesis alone."""
