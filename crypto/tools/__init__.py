"""Developer scripts that derive constants committed elsewhere (run with ``python -m``)."""
