"""Tests of chainnode."""
