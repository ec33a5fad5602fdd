"""Tests of the ledger side of chainnode (real LevelDB, crypto and VM)."""
