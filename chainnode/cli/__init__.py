"""The ``chainnode`` command line."""
