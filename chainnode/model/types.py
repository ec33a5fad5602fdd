"""On-chain types: Transaction, BlockHeader, Block, Receipt.

Each has one canonical encoding (msgpack of a fixed-order array, ints and bytes only; strings
travel as utf-8 bytes), a hash over it (the chain's suite hash, SM3 by default) and a JSON form
for the HTTP API (bytes as hex). Objects are validated on construction, and `decode` accepts
only the canonical encoding, so equal objects always have equal bytes and hashes.

Transaction hash = hash(signing payload) where the payload is everything but the signature
(chain id included). A re-signed copy of the same payload is therefore the same transaction,
which keeps duplicate detection independent of signature randomness.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import InitVar, dataclass, field
from typing import Any, Protocol

from chainnode.model.addresses import address_hex, contract_ref, parse_address
from chainnode.model.codes import Code, MalformedError
from chainnode.model.encoding import (
    U64,
    from_hex,
    json_int,
    json_str,
    pack,
    unpack,
    want_bytes,
    want_int,
    want_list,
    want_text,
)
from contracts import decode_value, encode_value
from crypto import sm3

Hasher = Callable[[bytes], bytes]

MAX_TX_BYTES = 256 * 1024
MAX_ARGS_BYTES = MAX_TX_BYTES - 1024
MAX_GAS_LIMIT = 1_000_000_000
MAX_BLOCK_TXS = 100_000
MAX_BLOCK_BYTES = 64 * 1024 * 1024
MAX_ERROR_CHARS = 512
MAX_EVENTS = 1024
PUBKEY_LEN = 65
SIG_LEN = 64
HASH_LEN = 32
ADDR_LEN = 20
ZERO_HASH = bytes(HASH_LEN)

NAME_RE = re.compile(r"[a-z][a-z0-9_.\-]{0,31}")
ADDR_RE = re.compile(r"[0-9a-f]{40}")
METHOD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
CHAIN_RE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
# the same patterns over the raw utf-8 fields (all ASCII), for the decoding hot path
NAME_RE_B = re.compile(NAME_RE.pattern.encode())
ADDR_RE_B = re.compile(ADDR_RE.pattern.encode())
METHOD_RE_B = re.compile(METHOD_RE.pattern.encode())
CHAIN_RE_B = re.compile(CHAIN_RE.pattern.encode())


class Suite(Protocol):
    """The part of `crypto.suite.Suite` the model needs."""

    @property
    def name(self) -> str: ...

    def hash(self, data: bytes) -> bytes: ...

    def public_key(self, priv: bytes) -> bytes: ...

    def sign(self, priv: bytes, msg: bytes) -> bytes: ...

    def verify(self, pub: bytes, msg: bytes, sig: bytes) -> bool: ...

    def address(self, pub: bytes) -> bytes: ...

    def is_public_key(self, pub: bytes) -> bool: ...


# SM3 itself (no wrapper): the default hasher of every decoded tx and block
sm3_hash: Callable[[bytes], bytes] = sm3.digest


def _hasher(suite: Suite | None) -> Hasher:
    return suite.hash if suite is not None else sm3_hash


def is_contract_ref(s: str) -> bool:
    """A contract is named by a registered name ("evidence") or a 40-hex-char address."""
    return bool(NAME_RE.fullmatch(s) or ADDR_RE.fullmatch(s))


def encode_args(args: Sequence[Any]) -> bytes:
    """Canonical bytes of a contract call's argument list (VM values)."""
    try:
        out: bytes = encode_value(list(args), limit=MAX_ARGS_BYTES)
        return out
    except Exception as e:  # noqa: BLE001  # contracts.EncodingError and friends
        raise MalformedError(f"args: {e}") from None


def decode_args(data: bytes, canonical: bool = True) -> list[Any]:
    """The argument list of `encode_args` (MalformedError if not a list of VM values).

    Admission insists on the canonical form; execution may skip that re-encoding check
    (the bytes are fixed by the tx hash either way, so every node decodes the same value).
    """
    try:
        v = decode_value(data, canonical=canonical, limit=MAX_ARGS_BYTES)
    except Exception as e:  # noqa: BLE001  # untrusted bytes, any failure is malformed
        raise MalformedError(f"args: {e}") from None
    if not isinstance(v, list):
        raise MalformedError("args: expected a list")
    return v


def vm_json(value: Any) -> Any:
    """A JSON-friendly view of a VM value (bytes as 0x-hex); for display only."""
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, list | tuple):
        return [vm_json(v) for v in value]
    if isinstance(value, dict):
        return {str(vm_json(k)): vm_json(v) for k, v in value.items()}
    return value


def decoded_json(data: bytes) -> Any:
    """JSON view of canonical VM-value bytes, or None when they do not decode."""
    if not data:
        return None
    try:
        return vm_json(decode_value(data))
    except Exception:  # noqa: BLE001  # display only
        return None


# --------------------------------------------------------------------------- transaction


@dataclass(frozen=True, slots=True)
class Transaction:
    chain_id: str
    sender: bytes
    nonce: int
    block_limit: int
    contract: str
    method: str
    args: bytes
    gas_limit: int
    signature: bytes
    hasher: InitVar[Hasher | None] = None
    hash: bytes = field(init=False, repr=False, compare=False)
    payload: bytes = field(init=False, repr=False, compare=False)
    raw: bytes = field(init=False, repr=False, compare=False)
    # the canonical decode of `args` made at admission, reused for a VM call (never mutated:
    # the VM copies container arguments); unset until check_args() succeeds
    _args_value: list[Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self, hasher: Hasher | None) -> None:
        if not isinstance(self.chain_id, str) or not CHAIN_RE.fullmatch(self.chain_id):
            raise MalformedError("chain_id: 1-64 chars of [A-Za-z0-9_.-]")
        want_bytes(self.sender, "sender", PUBKEY_LEN)
        if self.sender[0] != 4:
            raise MalformedError("sender: expected an uncompressed public key 04||x||y")
        want_int(self.nonce, "nonce")
        want_int(self.block_limit, "block_limit")
        if not isinstance(self.contract, str) or not is_contract_ref(self.contract):
            raise MalformedError("contract: a name [a-z][a-z0-9_.-]* or a 40-hex address")
        if not isinstance(self.method, str) or not METHOD_RE.fullmatch(self.method):
            raise MalformedError("method: an identifier of at most 64 chars")
        want_bytes(self.args, "args", max_len=MAX_ARGS_BYTES)
        want_int(self.gas_limit, "gas_limit", 1, MAX_GAS_LIMIT)
        want_bytes(self.signature, "signature", SIG_LEN)
        payload = pack(
            [
                self.chain_id.encode(),
                self.sender,
                self.nonce,
                self.block_limit,
                self.contract.encode(),
                self.method.encode(),
                self.args,
                self.gas_limit,
            ]
        )
        # fixarray(8) -> fixarray(9) + the signature: the full encoding without a second pack
        raw = b"\x99" + payload[1:] + b"\xc4\x40" + self.signature
        if len(raw) > MAX_TX_BYTES:
            raise MalformedError(f"transaction larger than {MAX_TX_BYTES} bytes", Code.TOO_LARGE)
        object.__setattr__(self, "payload", payload)
        object.__setattr__(self, "raw", raw)
        object.__setattr__(self, "hash", (hasher or sm3_hash)(payload))

    @staticmethod
    def signing_payload(
        chain_id: str,
        sender: bytes,
        nonce: int,
        block_limit: int,
        contract: str,
        method: str,
        args: bytes,
        gas_limit: int,
    ) -> bytes:
        """The bytes that are signed (and hashed): everything but the signature."""
        return pack(
            [
                chain_id.encode(),
                sender,
                nonce,
                block_limit,
                contract.encode(),
                method.encode(),
                args,
                gas_limit,
            ]
        )

    @classmethod
    def create(  # noqa: PLR0913, PLR0917  # one per transaction field
        cls,
        suite: Suite,
        private_key: bytes,
        chain_id: str,
        nonce: int,
        block_limit: int,
        contract: str,
        method: str,
        args: Sequence[Any] | bytes,
        gas_limit: int,
    ) -> Transaction:
        """Build and sign a transaction; `args` is a list of VM values (or its encoding).
        A contract address may come with ``0x`` or in upper case: it is signed in its on-chain
        form (bare lower-case hex)."""
        sender = suite.public_key(private_key)
        contract = contract_ref(contract)
        args_b = args if isinstance(args, bytes) else encode_args(args)
        payload = cls.signing_payload(
            chain_id, sender, nonce, block_limit, contract, method, args_b, gas_limit
        )
        sig = suite.sign(private_key, payload)
        return cls(
            chain_id,
            sender,
            nonce,
            block_limit,
            contract,
            method,
            args_b,
            gas_limit,
            sig,
            hasher=suite.hash,
        )

    def encode(self) -> bytes:
        return self.raw

    @classmethod
    def decode_plain(cls, data: bytes, suite: Suite | None = None) -> Transaction:
        """The plain reference of :meth:`decode`: unpack, build through the constructor (which
        owns every field rule), and accept only the canonical encoding."""
        data = bytes(data)
        if len(data) > MAX_TX_BYTES:
            raise MalformedError(f"transaction larger than {MAX_TX_BYTES} bytes", Code.TOO_LARGE)
        f = want_list(unpack(data, MAX_TX_BYTES), 9, "transaction")
        tx = cls(
            want_text(f[0], "chain_id", 64),
            f[1],
            f[2],
            f[3],
            want_text(f[4], "contract", 64),
            want_text(f[5], "method", 64),
            f[6],
            f[7],
            f[8],
            hasher=_hasher(suite),
        )
        if tx.raw != data:
            raise MalformedError("transaction: not in canonical encoding")
        return tx

    # fast path: plain=chainnode.model.types.Transaction.decode_plain test=tests/chainnode/ledger/test_types.py::test_decode_agrees_with_the_plain_path
    # long: the decoding fast path, inline on purpose (pinned against decode_plain)
    @classmethod
    def decode(cls, data: bytes, suite: Suite | None = None) -> Transaction:
        """Parse untrusted bytes; only the canonical encoding is accepted.

        The hot path of admission and block decoding: fields are checked in place and the
        signing payload is cut out of `data` (no re-encoding beyond the canonical check). It
        accepts and refuses exactly what :meth:`decode_plain` does (a differential property
        test pins them), so the constructor stays the one home of the field rules. The common
        case (canonical, valid, names seen before) is one call into ``_txwire.c`` when built;
        whatever it does not take, it leaves to the Python below.
        """
        if type(data) is not bytes:
            data = bytes(data)
        # fast path: plain=chainnode.model.types.Transaction.decode_plain test=tests/chainnode/ledger/test_txwire_native.py::test_native_decode_agrees_with_the_plain_decode
        if _txwire is not None and (tx := _txwire.decode(data, _NAMES)) is not None:
            _SET_HASH(tx, _hasher(suite)(tx.payload))
            return tx
        if len(data) > MAX_TX_BYTES:
            raise MalformedError(f"transaction larger than {MAX_TX_BYTES} bytes", Code.TOO_LARGE)
        f = want_list(unpack(data, MAX_TX_BYTES), 9, "transaction")
        cid, sender, nonce, limit, contract, method, args, gas, sig = f
        if not (
            type(cid) is bytes
            and type(sender) is bytes
            and type(contract) is bytes
            and type(method) is bytes
            and type(args) is bytes
            and type(sig) is bytes
            and type(nonce) is int
            and type(limit) is int
            and type(gas) is int
        ):
            raise MalformedError("transaction: a field has the wrong type")
        names = _NAMES.get((cid, contract, method)) or _names(cid, contract, method)
        if not (
            names is not None
            and len(sender) == PUBKEY_LEN
            and sender[0] == 4
            and 0 <= nonce <= U64
            and 0 <= limit <= U64
            and len(args) <= MAX_ARGS_BYTES
            and 1 <= gas <= MAX_GAS_LIMIT
            and len(sig) == SIG_LEN
        ):
            # let the constructor name the offending field
            cls(
                want_text(cid, "chain_id", 64),
                sender,
                nonce,
                limit,
                want_text(contract, "contract", 64),
                want_text(method, "method", 64),
                args,
                gas,
                sig,
            )
            raise MalformedError("transaction: invalid field")  # pragma: no cover
        if pack(f) != data:
            raise MalformedError("transaction: not in canonical encoding")
        payload = b"\x98" + data[1:-66]  # fixarray(8) + the fields before the signature
        tx = object.__new__(cls)
        put = object.__setattr__
        put(tx, "chain_id", names[0])
        put(tx, "sender", sender)
        put(tx, "nonce", nonce)
        put(tx, "block_limit", limit)
        put(tx, "contract", names[1])
        put(tx, "method", names[2])
        put(tx, "args", args)
        put(tx, "gas_limit", gas)
        put(tx, "signature", sig)
        put(tx, "payload", payload)
        put(tx, "raw", data)
        put(tx, "hash", _hasher(suite)(payload))
        return tx

    def decoded_args(self) -> list[Any]:
        return decode_args(self.args)

    def check_args(self) -> None:
        """Admission: MalformedError unless `args` is canonical; keeps the decode for vm_args."""
        object.__setattr__(self, "_args_value", decode_args(self.args))

    # fast path: plain=chainnode.model.types.decode_args test=tests/chainnode/ledger/test_types.py::test_vm_args_reuse_the_admission_decode_and_equal_a_fresh_one
    def vm_args(self) -> list[Any]:
        """Arguments for a VM call: the admission-time decode when there was one (admission
        insisted on the canonical form; the same bytes decode to the same value on every node),
        else a fresh decode. The VM copies what it keeps, so sharing the list is safe."""
        try:
            v: list[Any] = self._args_value
            return v
        except AttributeError:
            return decode_args(self.args, canonical=False)

    def verify(self, suite: Suite) -> bool:
        """Check the signature (the mempool batches this; use it for one-offs only)."""
        return suite.verify(self.sender, self.payload, self.signature)

    def to_json(self) -> dict[str, Any]:
        return {
            "hash": self.hash.hex(),
            "chain_id": self.chain_id,
            "sender": self.sender.hex(),
            "nonce": self.nonce,
            "block_limit": self.block_limit,
            "contract": self.contract,
            "method": self.method,
            "args": self.args.hex(),
            "args_value": decoded_json(self.args),
            "gas_limit": self.gas_limit,
            "signature": self.signature.hex(),
        }

    @classmethod
    def from_json(cls, obj: Any, suite: Suite | None = None) -> Transaction:
        """Parse the JSON form (`args` is the hex of the canonical argument encoding).

        The sender's key is ``sender_public_key``; ``sender`` may then be its address (as the
        API shows a tx; checked against the key when `suite` is given). Without
        ``sender_public_key``, ``sender`` is the key (the older form). A contract address may
        carry ``0x``: the tx holds (and was signed over) its bare lower-case form."""
        if not isinstance(obj, dict):
            raise MalformedError("transaction: expected an object")
        try:
            sender = _json_sender(obj, suite)
            tx = cls(
                json_str(obj["chain_id"], "chain_id", 64),
                sender,
                json_int(obj["nonce"], "nonce"),
                json_int(obj["block_limit"], "block_limit"),
                contract_ref(json_str(obj["contract"], "contract", 66)),
                json_str(obj["method"], "method", 64),
                from_hex(obj["args"], "args", max_len=MAX_ARGS_BYTES),
                json_int(obj["gas_limit"], "gas_limit", 1, MAX_GAS_LIMIT),
                from_hex(obj["signature"], "signature", SIG_LEN),
                hasher=_hasher(suite),
            )
        except KeyError as e:
            raise MalformedError(f"transaction: missing field {e.args[0]}") from None
        if "hash" in obj and obj["hash"] != tx.hash.hex():
            raise MalformedError("hash: does not match the transaction")
        return tx


def _json_sender(obj: dict[str, Any], suite: Suite | None) -> bytes:
    if "sender_public_key" not in obj:
        return from_hex(obj["sender"], "sender", PUBKEY_LEN)
    pub = from_hex(obj["sender_public_key"], "sender_public_key", PUBKEY_LEN)
    given = obj.get("sender")
    if given is not None:
        addr = parse_address(given) if isinstance(given, str) else None
        if addr is None:
            if from_hex(given, "sender", PUBKEY_LEN) != pub:
                raise MalformedError("sender: not the key in sender_public_key")
        elif suite is not None and pub[0] == 4 and suite.address(pub) != addr:
            raise MalformedError("sender: not the address of sender_public_key")
    return pub


#: Chain id, contract and method fields that passed their patterns, by their bytes: the same
#: few recur in nearly every transaction, so the decoding fast path matches each once.
_NAMES: dict[tuple[bytes, bytes, bytes], tuple[str, str, str]] = {}
_MAX_NAMES = 4096


def _names(cid: bytes, contract: bytes, method: bytes) -> tuple[str, str, str] | None:
    """The three fields as text when each fits its pattern (remembered), else None."""
    if not (
        CHAIN_RE_B.fullmatch(cid)
        and (NAME_RE_B.fullmatch(contract) or ADDR_RE_B.fullmatch(contract))
        and METHOD_RE_B.fullmatch(method)
    ):
        return None
    if len(_NAMES) >= _MAX_NAMES:
        _NAMES.clear()
    out = _NAMES[(cid, contract, method)] = (
        cid.decode("ascii"),
        contract.decode("ascii"),
        method.decode("ascii"),
    )
    return out


_SET_HASH = Transaction.__dict__["hash"].__set__

try:  # the optional C extension (setup.py): Transaction.decode's common case in one call
    from chainnode.model import _txwire
except ImportError:  # not built: decode runs in Python alone
    _txwire = None  # type: ignore[assignment]
else:
    _txwire.init(MAX_TX_BYTES, MAX_ARGS_BYTES, MAX_GAS_LIMIT, PUBKEY_LEN, SIG_LEN, Transaction)


# --------------------------------------------------------------------------- block


@dataclass(frozen=True, slots=True)
class StateCheckpoint:
    """The commitment to the whole state at checkpoint height `height`: the root over its
    chunk hashes (chainnode.model.snapshot), how many chunks and entries it has. Carried by
    the header of block ``height + snapshot_lag`` (see the genesis' consensus parameters), so
    a node joining from a snapshot checks every chunk against a certified header."""

    height: int
    root: bytes
    chunks: int
    entries: int

    def __post_init__(self) -> None:
        want_int(self.height, "checkpoint.height")
        want_bytes(self.root, "checkpoint.root", HASH_LEN)
        want_int(self.chunks, "checkpoint.chunks")
        want_int(self.entries, "checkpoint.entries")
        if self.chunks > self.entries or (self.entries > 0) != (self.chunks > 0):
            raise MalformedError("checkpoint: chunks must be 1..entries (0 for an empty state)")

    def to_list(self) -> list[Any]:
        return [self.height, self.root, self.chunks, self.entries]

    @classmethod
    def from_list(cls, v: Any) -> StateCheckpoint:
        f = want_list(v, 4, "checkpoint")
        return cls(f[0], f[1], f[2], f[3])

    def to_json(self) -> dict[str, Any]:
        return {
            "height": self.height,
            "root": self.root.hex(),
            "chunks": self.chunks,
            "entries": self.entries,
        }

    @classmethod
    def from_json(cls, obj: Any) -> StateCheckpoint:
        if not isinstance(obj, dict):
            raise MalformedError("checkpoint: expected an object")
        try:
            return cls(
                json_int(obj["height"], "checkpoint.height"),
                from_hex(obj["root"], "checkpoint.root", HASH_LEN),
                json_int(obj["chunks"], "checkpoint.chunks"),
                json_int(obj["entries"], "checkpoint.entries"),
            )
        except KeyError as e:
            raise MalformedError(f"checkpoint: missing field {e.args[0]}") from None


@dataclass(frozen=True, slots=True)
class BlockHeader:
    """A block's header. `checkpoint` (the 9th field) is encoded only when present: headers
    of a chain without snapshots, and every header not carrying a checkpoint, encode (hence
    hash) exactly as before the field existed."""

    height: int
    prev_hash: bytes
    tx_root: bytes
    receipts_root: bytes
    state_root: bytes
    timestamp: int  # milliseconds since the epoch, chosen by the proposer
    proposer: bytes  # 65-byte public key (empty for the genesis block)
    view: int
    checkpoint: StateCheckpoint | None = None

    def __post_init__(self) -> None:
        want_int(self.height, "height")
        for name in ("prev_hash", "tx_root", "receipts_root", "state_root"):
            want_bytes(getattr(self, name), name, HASH_LEN)
        want_int(self.timestamp, "timestamp")
        want_bytes(self.proposer, "proposer", max_len=PUBKEY_LEN)
        if len(self.proposer) not in (0, PUBKEY_LEN):
            raise MalformedError("proposer: expected a 65-byte public key")
        want_int(self.view, "view")
        if self.checkpoint is not None:
            if not isinstance(self.checkpoint, StateCheckpoint):
                raise MalformedError("checkpoint: expected a StateCheckpoint")
            if self.checkpoint.height >= self.height:
                raise MalformedError("checkpoint: its height must be below the header's")

    def to_list(self) -> list[Any]:
        out = [
            self.height,
            self.prev_hash,
            self.tx_root,
            self.receipts_root,
            self.state_root,
            self.timestamp,
            self.proposer,
            self.view,
        ]
        if self.checkpoint is not None:
            out.append(self.checkpoint.to_list())
        return out

    def encode(self) -> bytes:
        return pack(self.to_list())

    @classmethod
    def from_list(cls, v: Any) -> BlockHeader:
        if type(v) is not list or len(v) not in (8, 9):
            raise MalformedError("header: expected an array of 8 or 9 items")
        f = v
        return cls(
            want_int(f[0], "height"),
            want_bytes(f[1], "prev_hash", HASH_LEN),
            want_bytes(f[2], "tx_root", HASH_LEN),
            want_bytes(f[3], "receipts_root", HASH_LEN),
            want_bytes(f[4], "state_root", HASH_LEN),
            want_int(f[5], "timestamp"),
            want_bytes(f[6], "proposer", max_len=PUBKEY_LEN),
            want_int(f[7], "view"),
            StateCheckpoint.from_list(f[8]) if len(f) == 9 else None,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "height": self.height,
            "prev_hash": self.prev_hash.hex(),
            "tx_root": self.tx_root.hex(),
            "receipts_root": self.receipts_root.hex(),
            "state_root": self.state_root.hex(),
            "timestamp": self.timestamp,
            "proposer": self.proposer.hex(),
            "view": self.view,
            "checkpoint": None if self.checkpoint is None else self.checkpoint.to_json(),
        }

    @classmethod
    def from_json(cls, obj: Any) -> BlockHeader:
        if not isinstance(obj, dict):
            raise MalformedError("header: expected an object")
        try:
            cp = obj.get("checkpoint")
            return cls(
                json_int(obj["height"], "height"),
                from_hex(obj["prev_hash"], "prev_hash", HASH_LEN),
                from_hex(obj["tx_root"], "tx_root", HASH_LEN),
                from_hex(obj["receipts_root"], "receipts_root", HASH_LEN),
                from_hex(obj["state_root"], "state_root", HASH_LEN),
                json_int(obj["timestamp"], "timestamp"),
                from_hex(obj["proposer"], "proposer", max_len=PUBKEY_LEN),
                json_int(obj["view"], "view"),
                None if cp is None else StateCheckpoint.from_json(cp),
            )
        except KeyError as e:
            raise MalformedError(f"header: missing field {e.args[0]}") from None


#: Arrays in a block's encoding: [header, [tx bin, ...]] with the header an array of scalars
#: and at most one array inside it (the checkpoint).
BLOCK_ARRAYS = 4


@dataclass(frozen=True, slots=True)
class Block:
    """A header and its transactions; the commit certificate is stored beside it."""

    header: BlockHeader
    txs: tuple[Transaction, ...]
    hasher: InitVar[Hasher | None] = None
    hash: bytes = field(init=False, repr=False, compare=False)
    raw: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self, hasher: Hasher | None) -> None:
        if not isinstance(self.header, BlockHeader):
            raise MalformedError("block: header must be a BlockHeader")
        if len(self.txs) > MAX_BLOCK_TXS:
            raise MalformedError(f"block: more than {MAX_BLOCK_TXS} transactions")
        head = self.header.encode()
        raw = pack([self.header.to_list(), [t.raw for t in self.txs]])
        object.__setattr__(self, "raw", raw)
        object.__setattr__(self, "hash", (hasher or sm3_hash)(head))

    @property
    def height(self) -> int:
        return self.header.height

    def encode(self) -> bytes:
        return self.raw

    @classmethod
    def decode(
        cls,
        data: bytes,
        suite: Suite | None = None,
        known: Callable[[bytes], Transaction | None] | None = None,
    ) -> Block:
        """Parse untrusted block bytes. `known(raw)` may return an already decoded tx with
        exactly these bytes (e.g. from the mempool), which skips decoding and hashing it."""
        f = want_list(unpack(data, MAX_BLOCK_BYTES, BLOCK_ARRAYS), 2, "block")
        header = BlockHeader.from_list(f[0])
        if type(f[1]) is not list or len(f[1]) > MAX_BLOCK_TXS:
            raise MalformedError("block: bad transaction list")
        txs: tuple[Transaction, ...]
        if known is None:
            txs = tuple(Transaction.decode(want_bytes(t, "tx"), suite) for t in f[1])
        else:
            out = []
            for t in f[1]:
                tx = known(t) if type(t) is bytes else None
                out.append(tx if tx is not None else Transaction.decode(want_bytes(t, "tx"), suite))
            txs = tuple(out)
        block = cls(header, txs, hasher=_hasher(suite))
        if block.raw != bytes(data):
            raise MalformedError("block: not in canonical encoding")
        return block

    @staticmethod
    def decode_header(data: bytes) -> BlockHeader:
        """Only the header of an encoded block (no transaction is decoded or hashed)."""
        f = want_list(unpack(data, MAX_BLOCK_BYTES, BLOCK_ARRAYS), 2, "block")
        return BlockHeader.from_list(f[0])

    def to_json(self, with_txs: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"hash": self.hash.hex(), "header": self.header.to_json()}
        out["tx_count"] = len(self.txs)
        out["tx_hashes"] = [t.hash.hex() for t in self.txs]
        if with_txs:
            out["txs"] = [t.to_json() for t in self.txs]
        return out

    @classmethod
    def from_json(cls, obj: Any, suite: Suite | None = None) -> Block:
        if not isinstance(obj, dict) or not isinstance(obj.get("txs"), list):
            raise MalformedError("block: expected an object with header and txs")
        header = BlockHeader.from_json(obj.get("header"))
        txs = tuple(Transaction.from_json(t, suite) for t in obj["txs"])
        return cls(header, txs, hasher=_hasher(suite))


# --------------------------------------------------------------------------- receipt

STATUS_OK = 0
STATUS_FAILED = 1


@dataclass(frozen=True, slots=True)
class Event:
    """A contract event: emitting contract address, name, canonical VM-value fields."""

    contract: bytes
    name: str
    fields: bytes

    def to_list(self) -> list[Any]:
        return [self.contract, self.name.encode(), self.fields]

    def to_json(self) -> dict[str, Any]:
        return {
            "contract": address_hex(self.contract),
            "name": self.name,
            "fields": self.fields.hex(),
            "fields_value": decoded_json(self.fields),
        }


@dataclass(frozen=True, slots=True)
class Receipt:
    tx_hash: bytes
    status: int  # STATUS_OK or STATUS_FAILED
    gas_used: int
    return_value: bytes  # canonical VM value (contracts.encode_value), b"" for none
    events: tuple[Event, ...]
    error: str  # "" on success; "CODE: message" otherwise

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK

    def to_list(self) -> list[Any]:
        return [
            self.tx_hash,
            self.status,
            self.gas_used,
            self.return_value,
            [e.to_list() for e in self.events],
            self.error.encode(),
        ]

    def encode(self) -> bytes:
        return pack(self.to_list())

    @classmethod
    def decode(cls, data: bytes) -> Receipt:
        f = want_list(unpack(data), 6, "receipt")
        if type(f[4]) is not list or len(f[4]) > MAX_EVENTS:
            raise MalformedError("receipt: bad events")
        events = []
        for ev in f[4]:
            e = want_list(ev, 3, "event")
            events.append(
                Event(
                    want_bytes(e[0], "event.contract", max_len=64),
                    want_text(e[1], "event.name", 256),
                    want_bytes(e[2], "event.fields"),
                )
            )
        r = cls(
            want_bytes(f[0], "tx_hash", HASH_LEN),
            want_int(f[1], "status", 0, 255),
            want_int(f[2], "gas_used"),
            want_bytes(f[3], "return_value"),
            tuple(events),
            want_text(f[5], "error", 4 * MAX_ERROR_CHARS),
        )
        if r.encode() != bytes(data):
            raise MalformedError("receipt: not in canonical encoding")
        return r

    def to_json(self) -> dict[str, Any]:
        return {
            "tx_hash": self.tx_hash.hex(),
            "status": "ok" if self.ok else "failed",
            "gas_used": self.gas_used,
            "return_value": self.return_value.hex(),
            "return_value_json": decoded_json(self.return_value),
            "events": [e.to_json() for e in self.events],
            "error": self.error or None,
        }


_new = object.__new__
_EV_SET = tuple(Event.__dict__[f].__set__ for f in ("contract", "name", "fields"))
_RC_SET = tuple(
    Receipt.__dict__[f].__set__
    for f in ("tx_hash", "status", "gas_used", "return_value", "events", "error")
)


# fast path: plain=chainnode.model.types.Event test=tests/chainnode/ledger/test_types.py::test_made_receipts_and_events_equal_constructed_ones
def make_event(contract: bytes, name: str, fields: bytes, _set: tuple[Any, ...] = _EV_SET) -> Event:
    """``Event(contract, name, fields)`` at half the cost (the executor makes one per event):
    a frozen dataclass's ``__init__`` sets each slot through ``object.__setattr__``; this
    sets them through their descriptors. Neither checks anything."""
    e = _new(Event)
    _set[0](e, contract)
    _set[1](e, name)
    _set[2](e, fields)
    return e


# fast path: plain=chainnode.model.types.Receipt test=tests/chainnode/ledger/test_types.py::test_made_receipts_and_events_equal_constructed_ones
def make_receipt(
    tx_hash: bytes,
    status: int,
    gas_used: int,
    return_value: bytes,
    events: tuple[Event, ...],
    error: str,
    _set: tuple[Any, ...] = _RC_SET,
) -> Receipt:
    """``Receipt(...)`` the way `make_event` makes an Event (one per transaction)."""
    r = _new(Receipt)
    _set[0](r, tx_hash)
    _set[1](r, status)
    _set[2](r, gas_used)
    _set[3](r, return_value)
    _set[4](r, events)
    _set[5](r, error)
    return r
