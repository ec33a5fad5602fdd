"""chainnode."""
