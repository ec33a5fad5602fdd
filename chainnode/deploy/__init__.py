"""Generated networks: the local devnet (network init/up) and container files."""
