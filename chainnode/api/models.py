"""Pydantic models of the HTTP API: request validation and the OpenAPI document come from here.

Byte strings travel as lower-case hex (an optional ``0x`` prefix is accepted on input).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chainnode.model.codes import Code

HEX32 = r"^(0x)?[0-9a-fA-F]{64}$"
HEX_PUBKEY = r"^(0x)?04[0-9a-fA-F]{128}$"
HEX_SIG = r"^(0x)?[0-9a-fA-F]{128}$"
HEX_ADDRESS = r"^(0[xX])?[0-9a-fA-F]{40}$"
ADDRESS_OUT = "address: 0x + 40 lower-case hex digits"
NAME = r"^[A-Za-z_][A-Za-z0-9_.\-]{0,127}$"
U64 = (1 << 64) - 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(_Strict):
    code: Code = Field(
        description="machine-readable reason (UPPER_SNAKE), e.g. BAD_SIGNATURE, DUPLICATE; "
        "one of chainnode.model.codes.Code"
    )
    message: str = Field(description="what went wrong and what to do next")
    field: str | None = Field(default=None, description="the input field at fault, if any")


class ErrorResponse(_Strict):
    error: ErrorDetail


class TransactionIn(_Strict):
    """A signed transaction as JSON (the SDK builds and signs these; msgpack is faster)."""

    chain_id: str = Field(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")
    sender_public_key: str | None = Field(
        default=None, pattern=HEX_PUBKEY, description="uncompressed public key 04||x||y, hex"
    )
    sender: str | None = Field(
        default=None,
        pattern=f"{HEX_ADDRESS}|{HEX_PUBKEY}",
        description=(
            "with sender_public_key: its address (checked), as a transaction is shown; "
            "without: the public key itself (the older form)"
        ),
    )
    nonce: int = Field(ge=0, le=U64)
    block_limit: int = Field(ge=0, le=U64, description="last height this tx may be included at")
    contract: str = Field(
        min_length=1, max_length=66, description="contract name or address (0x optional)"
    )
    method: str = Field(min_length=1, max_length=64)
    args: str = Field(
        pattern=r"^(0x)?([0-9a-fA-F]{2})*$",
        max_length=600_000,
        description="hex of the canonical encoding of the argument list",
    )
    gas_limit: int = Field(ge=1, le=1_000_000_000)
    signature: str = Field(pattern=HEX_SIG, description="r||s, 64 bytes, hex")
    hash: str | None = Field(default=None, pattern=HEX32, description="checked when present")
    args_value: Any = Field(default=None, description="ignored on input")


class SubmitResponse(_Strict):
    hashes: list[str] = Field(description="hashes of the submitted transactions, in order")
    receipts: list[dict[str, Any] | None] | None = Field(
        default=None, description="with ?wait=: the receipts (null where not yet committed)"
    )
    committed: bool | None = Field(
        default=None, description="with ?wait=: every transaction was committed in time"
    )


class CallRequest(_Strict):
    contract: str = Field(min_length=1, max_length=128)
    method: str = Field(min_length=1, max_length=128)
    args: list[Any] = Field(default_factory=list, max_length=256)
    caller: str | None = Field(default=None, pattern=f"{HEX_ADDRESS}|{HEX_PUBKEY}")


class CallResponse(_Strict):
    ok: bool = Field(description="the method ran to completion")
    result: Any = Field(default=None, description="its return value (bytes as 0x-hex)")
    gas_used: int
    error: str | None = None


class TxResponse(_Strict):
    transaction: dict[str, Any]
    height: int
    index: int


class ReceiptResponse(_Strict):
    receipt: dict[str, Any]


class BlockResponse(_Strict):
    block: dict[str, Any] = Field(
        description="hash, header (its checkpoint: the state commitment "
        "{height, root, chunks, entries} it carries, or null), tx hashes and txs"
    )
    certificate: str | None = Field(default=None, description="commit certificate, hex")


class ValidatorOut(_Strict):
    address: str = Field(description=ADDRESS_OUT)
    public_key: str
    node_id: str
    p2p_addr: str
    api_addr: str


class ValidatorsResponse(_Strict):
    height: int
    validators: list[ValidatorOut]


class StateResponse(_Strict):
    contract: str = Field(description="the contract as asked: its name, or its 0x address")
    address: str = Field(description=ADDRESS_OUT)
    key: str
    value: str | None = Field(description="raw stored bytes, hex; null when absent")
    decoded: Any = Field(default=None, description="the stored VM value, when it decodes")


class PeerOut(_Strict):
    address: str = Field(description=ADDRESS_OUT)
    public_key: str
    node_id: str | None = None


class StatusResponse(_Strict):
    node_id: str
    chain_id: str
    height: int
    head_hash: str
    view: int
    primary: str | None = Field(description="the current primary's address (0x + 40 hex)")
    primary_node_id: str | None = Field(default=None, description="the primary's node id")
    primary_index: int | None = Field(
        default=None, description="the primary's position in the validator set"
    )
    validator: bool = Field(description="this node is in the current validator set")
    role: Literal["validator", "observer"] = Field(
        description="validator: votes; observer: follows the chain, verifying every "
        "certificate, serves reads and gossips transactions, never votes"
    )
    peers: list[PeerOut]
    mempool: int
    syncing: bool


class HealthResponse(_Strict):
    ok: bool
    reason: str | None = None


class ContractOut(_Strict):
    name: str | None = Field(description="its name; null for a contract deployed without one")
    address: str = Field(description=ADDRESS_OUT)
    kind: Literal["system", "stdlib", "deployed"] = Field(
        description="system: built into the node; stdlib: a standard contract installed at "
        "genesis; deployed: put on chain by a deploy transaction"
    )


CONTRACTS_PAGE = 100
"""Deployed contracts per answer of GET /v1/contracts at most (anyone allowed to deploy can
add contracts, so one answer is bounded; ``next`` continues)."""


class ContractsResponse(_Strict):
    contracts: list[ContractOut] = Field(
        description="system and standard contracts (first page), then deployed ones by address"
    )
    next: str | None = Field(
        description="more deployed contracts follow: ask again with after=<this address>"
    )


class ParamOut(_Strict):
    name: str
    type: str = Field(description="VM type: int, bool, bytes, str, list, map or any")


class MethodOut(_Strict):
    name: str
    signature: str = Field(description='e.g. "put(key: str, value: any)"')
    params: list[ParamOut]
    required: int = Field(description="how many leading parameters must be given")
    view: bool = Field(description="@view: read-only, callable through /v1/call")
    doc: str | None = Field(description="what it does (null when the chain has no source)")


class ContractResponse(_Strict):
    name: str | None
    address: str = Field(description=ADDRESS_OUT)
    kind: Literal["system", "stdlib", "deployed"]
    doc: str | None
    methods: list[MethodOut]


class ProofBundle(BaseModel):
    """A self-contained inclusion proof of a committed transaction (``chainnode verify-proof``
    checks it offline against the genesis)."""

    model_config = ConfigDict(extra="allow")

    format: str
    chain_id: str
    genesis_hash: str
    record: dict[str, Any] = Field(description="the tx, its receipt, header and Merkle proofs")
    validators: list[str] = Field(description="genesis validators, canonical encodings in hex")
    governance: list[dict[str, Any]] = Field(description="validator changes up to the record")
