"""Same calls, same receipts and state bytes: across processes with different hash seeds."""

from __future__ import annotations

import hashlib
import subprocess
import sys

from contracts import MemoryHost, execute, stdlib
from tests.conftest import subprocess_env

CALLS: list[tuple[str, str, list[object]]] = [
    ("evidence", "register", ["ab" * 32, "contract", "Lease"]),
    ("evidence", "register", ["ab" * 32, "contract", "again"]),
    ("evidence", "list_by_owner", ["01" * 20, 0, 10]),
    ("traceability", "create_batch", ["B1", "apples", "Farm"]),
    ("traceability", "add_event", ["B1", "harvest", "Field 3", "cd" * 32, "ok"]),
    ("traceability", "add_event", ["B1", "eating", "x", "", ""]),
    ("traceability", "history", ["B1"]),
    ("records", "put", ["k", {"z": 1, "a": [True, None, b"\x00", -(2**200)]}]),
    ("records", "put", ["k", "v2"]),
    ("records", "delete", ["k"]),
    ("records", "history", ["k", 0, 10]),
]


def digest() -> str:
    """SHA-256 over every receipt field and the final storage of all three contracts."""
    h = hashlib.sha256()
    storages: dict[str, dict[bytes, bytes]] = {name: {} for name in stdlib.NAMES}
    for height, (name, method, args) in enumerate(CALLS, 1):
        host = MemoryHost(block_height=height, tx_hash=height.to_bytes(32, "big"),
                          storage=storages[name])  # fmt: skip
        r = execute(stdlib.compiled(name), method, args, host, 1_000_000)
        h.update(repr((r.ok, r.gas_used, r.return_data, r.error)).encode())
        for ev in r.events:
            h.update(ev.name.encode() + ev.data)
    for name in stdlib.NAMES:
        for key, value in sorted(storages[name].items()):
            h.update(key + b"=" + value)
    return h.hexdigest()


def test_receipts_and_state_identical_across_processes() -> None:
    script = "from tests.contracts.test_determinism import digest; print(digest())"
    results = {digest()}
    for seed in ("0", "12345"):
        env = subprocess_env()
        env["PYTHONHASHSEED"] = seed
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                             text=True, check=True, timeout=60)  # fmt: skip
        results.add(out.stdout.strip())
    assert len(results) == 1
