"""Output for people: aligned ``key  value`` blocks for status, blocks, transactions,
receipts, calls and contracts (the commands' ``--json`` prints the API's JSON instead).

Times are ISO 8601 UTC, a commit certificate is the list of the validators that signed it
(node id, index and address), and return values and event fields are shown decoded (the
API's ``return_value_json`` / ``fields_value``), never as msgpack hex. Plain ``str`` building
with no terminal library: the output is a few dozen lines, and it must read the same in a
pipe, a log file or a terminal.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

Rows = list[tuple[str, Any]]
INDENT = "  "


def iso(ms: int | None) -> str:
    """Epoch milliseconds as ISO 8601 UTC (``2026-12-06T14:44:30.316Z``)."""
    if not isinstance(ms, int) or isinstance(ms, bool):
        return "-"
    try:
        t = datetime.fromtimestamp(ms / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return str(ms)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def value(v: Any) -> str:
    """A decoded VM value on one line (JSON; bytes are already ``0x``-hex strings)."""
    return json.dumps(v, ensure_ascii=False, separators=(", ", ": "))


def table(rows: Rows, indent: str = "") -> str:
    """``key  value`` lines with the values aligned; a Mapping or a list of rows as the value
    becomes an indented block under its key."""
    rows = [(k, v) for k, v in rows if v is not None]
    width = max((len(k) for k, _ in rows), default=0)
    lines: list[str] = []
    for key, v in rows:
        if isinstance(v, Mapping) and v:
            lines.append(f"{indent}{key}")
            lines.append(table(_mapping_rows(v), indent + INDENT))
        elif isinstance(v, list) and v and all(isinstance(x, tuple) for x in v):
            lines.append(f"{indent}{key}")
            lines.append(table(v, indent + INDENT))
        elif isinstance(v, list) and v and all(isinstance(x, str) for x in v):
            lines.append(f"{indent}{key.ljust(width)}  {v[0]}")
            lines.extend(f"{indent}{'':{width}}  {x}" for x in v[1:])
        else:
            text = v if isinstance(v, str) else value(v)
            lines.append(f"{indent}{key.ljust(width)}  {text}")
    return "\n".join(lines)


def _mapping_rows(m: Mapping[str, Any]) -> Rows:
    """A contract's record: its fields, with epoch-ms ``timestamp``-like fields also in ISO."""
    rows: Rows = []
    for k, v in m.items():
        if isinstance(v, int) and not isinstance(v, bool) and "time" in k and v > 10**11:
            rows.append((k, f"{v} ({iso(v)})"))
        elif isinstance(v, Mapping | list):
            rows.append((k, value(v)))
        else:
            rows.append((k, v if isinstance(v, str) else value(v)))
    return rows


def _result(v: Any) -> Any:
    if isinstance(v, Mapping) and v:
        return dict(v)
    return value(v)


# -- validators ------------------------------------------------------------------------------


class Validators:
    """Who a public key is: node id, index in the validator set and address, from
    ``GET /v1/validators`` (keys not in the set show as a short key)."""

    def __init__(self, validators: Sequence[Mapping[str, Any]]) -> None:
        self._by_key = {
            str(v.get("public_key", "")).lower().removeprefix("0x"): (i, v)
            for i, v in enumerate(validators)
        }
        self._by_addr = {
            str(v.get("address", "")).lower().removeprefix("0x"): (i, v)
            for i, v in enumerate(validators)
            if v.get("address")
        }
        self.count = len(validators)

    def name(self, key_or_address: str | None) -> str:
        if not key_or_address:
            return "-"
        k = key_or_address.lower().removeprefix("0x")
        hit = self._by_key.get(k) or self._by_addr.get(k)
        if hit is None:
            return f"0x{k}" if len(k) == 40 else f"key {k[:16]}…"
        i, v = hit
        addr = v.get("address")
        where = f", {addr}" if addr else ""
        return f"{v.get('node_id', '?')} (#{i}{where})"


# -- commands --------------------------------------------------------------------------------


def status(st: Mapping[str, Any], vals: Validators) -> str:
    primary = st.get("primary")
    if isinstance(primary, Mapping):  # {address, node_id, index} in newer APIs
        primary = primary.get("address") or primary.get("public_key")
    peers = st.get("peers") or []
    peer_names = [
        vals.name(p.get("address") or p.get("public_key")) if isinstance(p, Mapping) else str(p)
        for p in peers
    ]
    return table(
        [
            ("node", st.get("node_id")),
            ("chain", st.get("chain_id")),
            ("height", f"{st.get('height')}  (head {st.get('head_hash')})"),
            ("view", st.get("view")),
            ("primary", vals.name(primary) if primary else "-"),
            ("role", st.get("role", "validator" if st.get("validator") else "observer")),
            ("peers", peer_names or "none connected"),
            ("mempool", f"{st.get('mempool')} transactions"),
            ("syncing", "yes" if st.get("syncing") else "no"),
        ]
    )


def certificate(raw_hex: str | None, vals: Validators) -> Any:
    """A commit certificate as the validators that signed it (with the quorum's view)."""
    if not raw_hex:
        return "none (genesis)"
    from consensus.certificate import decode_certificate
    from consensus.errors import DecodeError

    try:
        cert = decode_certificate(bytes.fromhex(raw_hex.removeprefix("0x")))
    except (DecodeError, ValueError) as e:
        return f"undecodable ({e})"
    signers = [vals.name(k.hex()) for k in cert.signers()]
    of = f" of {vals.count}" if vals.count else ""
    return [f"{len(signers)}{of} validators signed (view {cert.view}):", *signers]


def block(resp: Mapping[str, Any], vals: Validators) -> str:
    b = resp.get("block", {})
    h = b.get("header", {})
    proposer = h.get("proposer_address") or h.get("proposer")
    txs = b.get("txs")
    tx_lines: list[str] = []
    if txs:
        for t in txs:
            tx_lines.append(
                f"{t.get('hash')}  {t.get('contract')}.{t.get('method')}  from {_short_sender(t)}"
            )
    else:
        tx_lines = [str(x) for x in b.get("tx_hashes", [])]
    return table(
        [
            ("height", h.get("height")),
            ("hash", b.get("hash")),
            ("time", iso(h.get("timestamp"))),
            ("proposer", vals.name(proposer) if proposer else "- (genesis)"),
            ("view", h.get("view")),
            ("previous", h.get("prev_hash")),
            ("tx root", h.get("tx_root")),
            ("receipts root", h.get("receipts_root")),
            ("state root", h.get("state_root")),
            *_checkpoint_row(h.get("checkpoint")),
            ("certificate", certificate(resp.get("certificate"), vals)),
            (f"transactions ({b.get('tx_count', len(tx_lines))})", tx_lines or "none"),
        ]
    )


def _checkpoint_row(cp: Any) -> Rows:
    """The state checkpoint a header carries (issue 21), when it carries one."""
    if not isinstance(cp, Mapping):
        return []
    return [
        (
            "state checkpoint",
            f"height {cp.get('height')}: root {cp.get('root')} "
            f"({cp.get('chunks')} chunks, {cp.get('entries')} entries)",
        )
    ]


def _short_sender(t: Mapping[str, Any]) -> str:
    s = str(t.get("sender", ""))
    return s if len(s) <= 42 else f"key {s[:16]}…"


def receipt_rows(r: Mapping[str, Any] | None) -> Rows:
    if r is None:
        return [("receipt", "none yet (not committed)")]
    ok = r.get("status") == "ok"
    events: list[str] = []
    for e in r.get("events") or []:
        fields = e.get("fields_value", e.get("fields"))
        events.append(f"{e.get('name')} {value(fields)}")
    rows: Rows = [("status", "ok" if ok else f"FAILED: {r.get('error')}")]
    if "return_value_json" in r or "result" in r:
        result = r.get("return_value_json", r.get("result"))
        if ok:
            rows.append(("result", _result(result)))
    rows.append(("events", events or "none"))
    rows.append(("gas used", r.get("gas_used")))
    return rows


def transaction(resp: Mapping[str, Any], receipt: Mapping[str, Any] | None) -> str:
    t = resp.get("transaction", {})
    args = t.get("args_value", t.get("args"))
    rows: Rows = [
        ("hash", t.get("hash")),
        ("block", f"{resp.get('height')}, position {resp.get('index')}"),
        ("sender", t.get("sender")),
        ("call", f"{t.get('contract')}.{t.get('method')}({_args(args)})"),
        ("nonce", t.get("nonce")),
        ("block limit", t.get("block_limit")),
        ("gas limit", t.get("gas_limit")),
        *receipt_rows(receipt),
    ]
    return table(rows)


def _args(args: Any) -> str:
    if isinstance(args, list):
        return ", ".join(value(a) for a in args)
    return str(args)


def sent(tx_hash: str, receipt: Mapping[str, Any] | None, waited: bool) -> str:
    rows: Rows = [("transaction", tx_hash)]
    if waited:
        rows += receipt_rows(receipt)
    else:
        rows.append(("status", "accepted by the node (not waited for: see `tx get`)"))
    return table(rows)


def call(out: Mapping[str, Any]) -> str:
    if not out.get("ok"):
        return table([("status", f"FAILED: {out.get('error')}"), ("gas used", out.get("gas_used"))])
    return table([("result", _result(out.get("result"))), ("gas used", out.get("gas_used"))])


def state(out: Mapping[str, Any]) -> str:
    """One stored value: decoded (a record field by field), the raw bytes' size beside."""
    raw = out.get("value")
    if raw is None:
        shown: Any = "absent (nothing stored under this key)"
    else:
        shown = _result(out.get("decoded"))
    size = None if raw is None else f"{len(str(raw).removeprefix('0x')) // 2} bytes"
    return table(
        [
            ("contract", out.get("contract")),
            ("key", out.get("key")),
            ("value", shown),
            ("stored", size),
        ]
    )


def deployed(tx_hash: str, receipt: Mapping[str, Any] | None, address: str | None) -> str:
    rows: Rows = [("address", address or "-"), ("transaction", tx_hash)]
    return table(rows + receipt_rows(receipt))


def contract_list(contracts: Iterable[Mapping[str, Any]]) -> str:
    """One line a contract: name, kind (system, stdlib, deployed) and address."""
    items = list(contracts)
    if not items:
        return "no contracts"
    names = [str(c.get("name") or "(no name)") for c in items]
    kinds = [str(c.get("kind") or "") for c in items]
    wn, wk = max(map(len, names)), max(map(len, kinds))
    return "\n".join(
        f"{n.ljust(wn)}  {k.ljust(wk)}  {c.get('address')}"
        for n, k, c in zip(names, kinds, items, strict=True)
    )


def contract_detail(c: Mapping[str, Any]) -> str:
    """A contract's interface: what it is, then each method's signature (``@view`` marked)
    with its docstring indented below it."""
    rows: Rows = [
        ("name", c.get("name") or "(no name)"),
        ("address", c.get("address")),
        ("kind", c.get("kind")),
    ]
    doc = str(c.get("doc") or "").strip()
    if doc:
        rows.append(("about", doc.splitlines()[0]))
    lines = [table(rows), "methods"]
    for m in c.get("methods") or []:
        view = "@view " if m.get("view") else ""
        sig = (
            m.get("signature")
            or f"{m.get('name')}({', '.join(_param(p) for p in m.get('params') or [])})"
        )
        lines.append(f"{INDENT}{view}{sig}")
        text = str(m.get("doc") or "").strip()
        lines.extend(f"{INDENT * 3}{ln.strip()}" for ln in text.splitlines() if ln.strip())
    if not c.get("methods"):
        lines.append(f"{INDENT}none")
    return "\n".join(lines)


def _param(p: Any) -> str:
    if isinstance(p, Mapping):
        t = p.get("type")
        return f"{p.get('name')}: {t}" if t else str(p.get("name"))
    return str(p)
