"""Backups of a node's chain and their verified restore (issue 21)."""
