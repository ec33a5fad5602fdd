"""The ledger: chain state, block execution, the mempool and the native system contracts."""
