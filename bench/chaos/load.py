"""Steady client load during a chaos run, and the client's view of every transaction.

A transaction is *acknowledged* when a node answered its submission with 200 (it is in that
node's mempool and gossiped). Like a real client, the load resubmits the same signed bytes to
another live node when a transaction stays uncommitted for a while (a node killed before it
gossiped loses its mempool); a ``DUPLICATE`` answer then means some node already has it.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
import urllib.error
from dataclasses import dataclass, field
from typing import Any

from bench.chaos.cluster import ChaosNetwork
from chainnode.client.sdk import Account, Client, ClientError

RESUBMIT_AFTER_S = 8.0
BLOCK_LIMIT_AHEAD = 900


@dataclass
class TxRecord:
    tx: Any
    first_sent: float
    acked: bool = False
    committed: bool = False
    expired: bool = False
    last_sent: float = 0.0
    rejections: list[str] = field(default_factory=list)


class Load:
    """Submits ``rate`` evidence registrations a second, in small batches, to live nodes."""

    def __init__(self, net: ChaosNetwork, rate: float, seed: int) -> None:
        self.net = net
        self.rate = rate
        self.rng = random.Random(seed)
        self.account = Account.generate()
        self.txs: dict[str, TxRecord] = {}
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-load", daemon=True)
        self._height = 1
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def live_nodes(self) -> list[int]:
        return [
            i for i in range(self.net.validators) if self.net.alive(i) and i not in self.net.paused
        ]

    def _client(self, i: int) -> Client:
        return Client(self.net.urls[i], timeout=3.0)

    def _run(self) -> None:
        chain_id = self.net.chain_id
        batch = max(1, int(self.rate / 4))
        interval = batch / self.rate
        next_at = time.monotonic()
        last_height_check = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now < next_at:
                self._stop.wait(next_at - now)
                continue
            next_at += interval
            live = self.live_nodes()
            if not live:
                continue
            if now - last_height_check > 1.0:
                heights = self.net.heights()
                if heights:
                    self._height = max(heights.values())
                last_height_check = now
            txs = [
                self.account.sign(
                    chain_id,
                    "evidence",
                    "register",
                    [secrets.token_hex(32), "chaos", f"t{time.time_ns()}"],
                    block_limit=self._height + BLOCK_LIMIT_AHEAD,
                )  # fmt: skip
                for _ in range(batch)
            ]
            with self._lock:
                for tx in txs:
                    self.txs[tx.hash.hex()] = TxRecord(tx, time.monotonic())
            self._submit(self.rng.choice(live), txs)
            self.resubmit_stale(live)

    def _submit(self, node: int, txs: list[Any]) -> None:
        now = time.monotonic()
        try:
            with self._client(node) as c:
                c.submit(txs)
        except ClientError as e:
            with self._lock:
                for tx in txs:
                    rec = self.txs[tx.hash.hex()]
                    rec.last_sent = now
                    rec.rejections.append(e.code)
                    if len(txs) == 1 and e.code.upper() == "DUPLICATE":
                        rec.acked = True  # a node has it already (pending or committed)
            return
        except (OSError, urllib.error.URLError, ValueError):
            self.errors += 1  # a dead or paused node: the txs go out again later
            with self._lock:
                for tx in txs:
                    self.txs[tx.hash.hex()].last_sent = now
            return
        with self._lock:
            for tx in txs:
                rec = self.txs[tx.hash.hex()]
                rec.acked = True
                rec.last_sent = now

    def resubmit_stale(self, live: list[int], most: int = 40) -> int:
        """Send uncommitted txs again, one per request (a batch is all or nothing)."""
        now = time.monotonic()
        with self._lock:
            stale = [
                r for r in self.txs.values()
                if not r.committed and not r.expired and now - r.last_sent > RESUBMIT_AFTER_S
            ][:most]  # fmt: skip
        for rec in stale:
            if not live:
                break
            self._submit(self.rng.choice(live), [rec.tx])
            if rec.rejections and rec.rejections[-1].upper() == "EXPIRED":
                rec.expired = True
        return len(stale)

    def mark_committed(self, hashes: set[str]) -> None:
        with self._lock:
            for h in hashes:
                rec = self.txs.get(h)
                if rec is not None:
                    rec.committed = True

    def snapshot(self) -> list[TxRecord]:
        with self._lock:
            return list(self.txs.values())
