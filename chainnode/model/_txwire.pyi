"""Types of the native extension built from _txwire.c (optional; see Transaction.decode)."""

from chainnode.model.types import Transaction

def decode(
    data: object, names: dict[tuple[bytes, bytes, bytes], tuple[str, str, str]], /
) -> Transaction | None:
    """The Transaction but its hash, or None where the Python decode must decide."""

def init(
    max_tx_bytes: int,
    max_args_bytes: int,
    max_gas_limit: int,
    pubkey_len: int,
    sig_len: int,
    cls: type,
    /,
) -> None: ...
