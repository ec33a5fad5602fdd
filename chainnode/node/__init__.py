"""The node process: lifecycle, the consensus host and driver, WAL, block sync, config, logs."""
