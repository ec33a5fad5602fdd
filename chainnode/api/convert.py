"""Between the API's wire forms and the ledger's objects; ledger errors become ApiErrors."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from chainnode.api.errors import ApiError
from chainnode.api.models import CallRequest, TransactionIn
from chainnode.model.codes import Code, LedgerError
from chainnode.model.types import (
    Block,
    Receipt,
    Transaction,
    decoded_json,
    is_contract_ref,
    vm_json,
)
from contracts import encode_value

if TYPE_CHECKING:
    from chainnode.ledger.ledger import Ledger

HASH_RE = re.compile(r"(0x)?[0-9a-fA-F]{64}")
MAX_KEY_BYTES = 1024

_STATUS = {
    Code.DUPLICATE: 409,
    Code.NO_PERMISSION: 403,
    Code.MEMPOOL_FULL: 503,
    Code.TOO_LARGE: 413,
    Code.UNKNOWN_CONTRACT: 404,
    Code.UNKNOWN_METHOD: 404,
}


def status_for_rejection(code: Code) -> int:
    return _STATUS.get(code, 400)


def _ledger_error(e: LedgerError, field: str | None) -> ApiError:
    return ApiError(status_for_rejection(e.code), e.code, e.message, field)


def decode_tx(raw: bytes, field: str) -> Transaction:
    try:
        return Transaction.decode(raw)
    except LedgerError as e:
        raise _ledger_error(e, field) from None


def tx_from_model(model: TransactionIn, prefix: str) -> Transaction:
    try:
        return Transaction.from_json(model.model_dump(exclude_none=True))
    except LedgerError as e:
        raise _ledger_error(e, prefix.rstrip(".") or None) from None


def tx_json(tx: Transaction) -> dict[str, Any]:
    return tx.to_json()


def receipt_json(r: Receipt) -> dict[str, Any]:
    return r.to_json()


def block_json(b: Block, with_txs: bool = True) -> dict[str, Any]:
    return b.to_json(with_txs)


def block_height(b: Block) -> int:
    return b.height


def validator_json(v: Any) -> dict[str, Any]:
    return {
        "public_key": v.public_key.hex(),
        "node_id": v.node_id,
        "p2p_addr": v.p2p_addr,
        "api_addr": v.api_addr,
    }


def parse_hash(raw: str, field: str) -> bytes:
    if not HASH_RE.fullmatch(raw):
        raise ApiError(400, Code.INVALID_FIELD, f"{field}: 64 hex digits", field)
    return bytes.fromhex(raw[2:] if raw.startswith("0x") else raw)


def parse_name(raw: str, field: str) -> str:
    if not is_contract_ref(raw):
        raise ApiError(
            400, Code.INVALID_FIELD, f"{field}: a contract name or a 40-hex-digit address", field
        )
    return raw


def parse_key(raw: str) -> bytes:
    """A storage key: ``0x``-prefixed raw bytes, or a text key as contracts store it (the VM
    encodes ``storage["rec:k"]`` as the canonical value of the string)."""
    if raw.startswith("0x"):
        try:
            key = bytes.fromhex(raw[2:])
        except ValueError:
            raise ApiError(
                400, Code.INVALID_FIELD, "key: 0x followed by hex digits", "key"
            ) from None
    else:
        try:
            key = encode_value(raw)
        except Exception:
            raise ApiError(400, Code.INVALID_FIELD, "key: not a valid text key", "key") from None
    if not key or len(key) > MAX_KEY_BYTES:
        raise ApiError(400, Code.INVALID_FIELD, f"key: 1 to {MAX_KEY_BYTES} bytes", "key")
    return key


def decode_value(raw: bytes) -> Any:
    return decoded_json(raw)


def call_view(ledger: Ledger, req: CallRequest) -> dict[str, Any]:
    contract = parse_name(req.contract, "contract")
    caller = None
    if req.caller is not None:
        caller = bytes.fromhex(req.caller[2:] if req.caller.startswith("0x") else req.caller)
    try:
        res = ledger.call_view(contract, req.method, _vm_args(req.args), caller=caller)
    except LedgerError as e:
        field = {
            Code.UNKNOWN_CONTRACT: "contract",
            Code.UNKNOWN_METHOD: "method",
            Code.NOT_VIEW: "method",
        }.get(e.code, "args")
        raise _ledger_error(e, field) from None
    return {
        "ok": res.ok,
        "result": vm_json(res.return_value),
        "gas_used": res.gas_used,
        "error": res.error,
    }


def _vm_args(v: Any) -> Any:
    """JSON call arguments to VM values: ``{"hex": "..."}`` is bytes (as in the CLI)."""
    if isinstance(v, dict):
        if set(v) == {"hex"} and isinstance(v["hex"], str):
            try:
                return bytes.fromhex(v["hex"].removeprefix("0x"))
            except ValueError:
                raise ApiError(
                    400, Code.INVALID_FIELD, 'args: bad hex in {"hex": ...}', "args"
                ) from None
        return {k: _vm_args(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_vm_args(x) for x in v]
    if isinstance(v, float):
        raise ApiError(400, Code.INVALID_FIELD, "args: integers only, no floats", "args")
    return v
