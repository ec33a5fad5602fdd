"""Between the API's wire forms and the ledger's objects; ledger errors become ApiErrors."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from chainnode.api.errors import ApiError
from chainnode.api.models import CallRequest, TransactionIn
from chainnode.model.addresses import address_hex, contract_display, contract_ref
from chainnode.model.chain import ChainReader
from chainnode.model.codes import Code, LedgerError
from chainnode.model.types import (
    Block,
    Receipt,
    Suite,
    Transaction,
    decoded_json,
    is_contract_ref,
    vm_json,
)
from contracts import EncodingError, encode_value

if TYPE_CHECKING:
    from chainnode.ledger.ledger import ContractEntry, ContractInterface

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


def decode_txs(
    raws: Sequence[bytes], single: bool, suite: Suite | None = None
) -> list[Transaction]:
    """A request's txs, each decoded once; the first that does not decode is named
    (``body`` for a single tx, ``[i]`` in a batch), its field only worked out then."""
    decode = Transaction.decode
    txs: list[Transaction] = []
    try:
        for raw in raws:
            txs.append(decode(raw, suite))
    except LedgerError as e:
        raise _ledger_error(e, "body" if single else f"[{len(txs)}]") from None
    return txs


def tx_from_model(model: TransactionIn, prefix: str, suite: Suite) -> Transaction:
    field = prefix.rstrip(".") or None
    data = model.model_dump(exclude_none=True)
    if "sender" not in data and "sender_public_key" not in data:
        raise ApiError(
            400, Code.INVALID_FIELD, f"{prefix}sender_public_key: required", f"{prefix}sender"
        )
    try:
        return Transaction.from_json(data, suite)
    except LedgerError as e:
        raise _ledger_error(e, field) from None


AddressOf = Callable[[bytes], bytes]


def tx_json(tx: Transaction, address_of: AddressOf) -> dict[str, Any]:
    """A tx as the API shows it: ``sender`` is the sender's address, its key beside it."""
    out = tx.to_json()
    out["sender"] = address_hex(address_of(tx.sender))
    out["sender_public_key"] = tx.sender.hex()
    out["contract"] = contract_display(tx.contract)
    return out


def receipt_json(r: Receipt) -> dict[str, Any]:
    return r.to_json()


def block_json(b: Block, address_of: AddressOf, with_txs: bool = True) -> dict[str, Any]:
    out = b.to_json(with_txs=False)
    proposer = b.header.proposer
    out["header"]["proposer_address"] = address_hex(address_of(proposer)) if proposer else None
    if with_txs:
        out["txs"] = [tx_json(t, address_of) for t in b.txs]
    return out


def block_height(b: Block) -> int:
    return b.height


def validator_json(v: Any, address_of: AddressOf) -> dict[str, Any]:
    return {
        "address": address_hex(address_of(v.public_key)),
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
    """A contract reference in its on-chain form (an address with or without 0x, any case)."""
    raw = contract_ref(raw)
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
        except EncodingError:
            raise ApiError(400, Code.INVALID_FIELD, "key: not a valid text key", "key") from None
    if not key or len(key) > MAX_KEY_BYTES:
        raise ApiError(400, Code.INVALID_FIELD, f"key: 1 to {MAX_KEY_BYTES} bytes", "key")
    return key


def decode_value(raw: bytes) -> Any:
    return decoded_json(raw)


def call_view(ledger: ChainReader, req: CallRequest, gas_limit: int = 2_000_000) -> dict[str, Any]:
    contract = parse_name(req.contract, "contract")
    caller = None
    if req.caller is not None:
        caller = bytes.fromhex(req.caller[2:] if req.caller[:2] in ("0x", "0X") else req.caller)
    try:
        res = ledger.call_view(
            contract, req.method, _vm_args(req.args), caller=caller, gas_limit=gas_limit
        )
    except LedgerError as e:
        field = e.field or {Code.UNKNOWN_CONTRACT: "contract"}.get(e.code, "args")
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
                text = v["hex"]
                return bytes.fromhex(text[2:] if text[:2] in ("0x", "0X") else text)
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


def contract_entry_json(e: ContractEntry) -> dict[str, Any]:
    return {"name": e.name, "address": address_hex(e.address), "kind": e.kind}


def contract_json(c: ContractInterface) -> dict[str, Any]:
    return {
        **contract_entry_json(c.entry),
        "doc": c.doc,
        "methods": [
            {
                "name": m.name,
                "signature": m.signature,
                "params": [{"name": p.name, "type": p.type} for p in m.params],
                "required": m.required,
                "view": m.view,
                "doc": m.doc,
            }
            for m in c.methods.values()
        ],
    }
