"""Orchestration: start the network and the load, run the schedule, check, report."""

from __future__ import annotations

import http.client
import json
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.chaos import checks
from bench.chaos.checks import Outcome
from bench.chaos.cluster import ChaosNetwork, wait_until
from bench.chaos.load import Load
from bench.chaos.nemesis import DISK_NODE, KINDS, Fault, draw, plan

log = logging.getLogger("bench.chaos")

#: Short timeouts so that a fault costs seconds, not the production defaults' tens of seconds.
CONSENSUS = {"view_change_timeout_ms": 1000, "request_timeout_ms": 1500, "block_interval_ms": 100}
RECOVERY_LIMIT_S = 60.0


@dataclass
class Options:
    validators: int = 4
    duration_s: float = 90.0
    seed: int = 1
    rate: float = 20.0
    kinds: tuple[str, ...] = KINDS
    hold: tuple[float, float] = (2.0, 5.0)
    min_faults: int = 0
    memory_limit_mib: float = 1024.0
    keep: bool = False
    workdir: Path | None = None


class Runner:
    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.rng = random.Random(opts.seed)
        self.net = ChaosNetwork(opts.validators, opts.workdir)
        self.net.keep = opts.keep
        self.out = Outcome(rss={i: [] for i in range(opts.validators)})
        self.load: Load | None = None
        self._seen_height = 0
        self._expected_down: set[int] = set()

    # -- watching ----------------------------------------------------------------------------

    def sample(self) -> None:
        """RSS of each node, unplanned exits, and which txs the chain has committed so far."""
        for i in range(self.net.validators):
            if (mib := self.net.rss_mib(i)) is not None:
                self.out.rss[i].append(mib)
            p = self.net.procs[i]
            if i not in self._expected_down and p is not None and p.poll() is not None:
                self.out.unplanned_exits.append(
                    f"node{i} exited with {p.returncode}: {self.net.log_tail(i, 3)}"
                )
                self.net.start_node(i)  # keep the run going; the check fails on it
        self._follow_chain()

    def _follow_chain(self) -> None:
        heights = self.net.heights()
        if not heights or self.load is None:
            return
        node, top = max(heights.items(), key=lambda kv: kv[1])
        committed: set[str] = set()
        for h in range(self._seen_height + 1, top + 1):
            try:
                blk = self.net.get(node, f"/v1/blocks/{h}?txs=false")["block"]
            except (OSError, ValueError, KeyError, http.client.HTTPException):
                return
            committed.update(blk["tx_hashes"])
            self._seen_height = h
        self.load.mark_committed(committed)

    def idle(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.sample()
            time.sleep(min(0.5, max(0.0, end - time.monotonic())))

    def live(self) -> list[int]:
        return [
            i for i in range(self.net.validators) if self.net.alive(i) and i not in self.net.paused
        ]

    def recovered(self, floor: int) -> bool:
        """Every node answers and has committed past ``floor``."""
        self.sample()
        h = self.net.heights()
        return len(h) == self.net.validators and min(h.values()) > floor

    # -- faults ------------------------------------------------------------------------------

    # long: a dispatch over the fault kinds, one case each
    def inject(self, fault: Fault) -> dict[str, Any]:
        net = self.net
        n = net.validators
        start_heights = net.heights()
        record: dict[str, Any] = {"kind": fault.kind, "hold_s": fault.hold_s}
        if fault.kind == "kill":
            target = fault.targets[0] if fault.targets else (net.primary() or 0)
            record["targets"] = [target]
            record["primary"] = not fault.targets
            self._expected_down = {target}
            net.kill(target)
            self.idle(fault.hold_s)
            net.restart(target)
        elif fault.kind == "pause":
            primary = net.primary()
            backups = [i for i in range(n) if i != primary]
            k = int(fault.detail[1])
            targets = self.rng.sample(backups, min(k, len(backups)))
            record["targets"] = targets
            self._expected_down = set(targets)
            for i in targets:
                net.pause(i)
            self.idle(fault.hold_s)
            for i in targets:
                net.resume(i)
        elif fault.kind == "partition":
            side = set(fault.targets)
            other = [i for i in range(n) if i not in side]
            record["targets"] = sorted(side)
            record["split"] = fault.detail[0]
            for i in range(n):
                peers = other if i in side else sorted(side)
                net.cut(i, peers)
            self.idle(fault.hold_s)
            for i in range(n):
                net.cut(i, [])
        elif fault.kind == "byzantine":
            victim, helper = fault.targets
            lies = list(fault.detail)
            record["targets"] = [victim]
            record["lies"] = lies
            self.out.byzantine.append((victim, tuple(lies) + ("forged_sync",)))
            net.byzantine(victim, lies)
            self.idle(fault.hold_s)
            # Forged block sync: the helper falls behind, then catches up while the victim
            # serves altered blocks (it votes honestly meanwhile, so the chain moves on).
            net.byzantine(victim, ["forged_sync"])
            self._expected_down = {helper}
            net.pause(helper)
            self.idle(max(2.0, fault.hold_s / 2))
            net.resume(helper)
            self.idle(2.0)
            acts = net.byzantine(victim, [])
            record["acts"] = acts.get("acts", {})
        elif fault.kind == "wal_truncate":
            target = fault.targets[0]
            record["targets"] = [target]
            self._expected_down = {target}
            net.kill(target)
            wal = net.wal_path(target)
            size = wal.stat().st_size if wal.exists() else 0
            cut = self.rng.randint(1, 64) if size else 0
            if cut:
                with wal.open("r+b") as f:
                    f.truncate(max(0, size - cut))
            record["truncated_bytes"] = cut
            self.idle(fault.hold_s)
            net.restart(target)
        elif fault.kind == "disk_full":
            target = fault.targets[0]
            record["targets"] = [target]
            self._expected_down = {target}
            filler = net.fill_disk(target)
            self.idle(fault.hold_s)
            filler.unlink()
            halted = not net.alive(target)
            record["node_halted"] = halted
            if halted:
                record["halt_reason"] = net.log_tail(target, 30)
                net.start_node(target)
        # Recovery: every node answers and the chain moved past where it was at the fault.
        floor = max(start_heights.values(), default=0)
        took = wait_until(lambda: self.recovered(floor), RECOVERY_LIMIT_S, interval=0.3)
        self._expected_down = set()
        record["recovery_s"] = None if took is None else round(took, 2)
        record["recovered"] = took is not None
        return record

    # -- the run -------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        opts = self.opts
        net = self.net
        net.init()
        net.set_consensus(CONSENSUS)
        kinds = tuple(opts.kinds)
        if "disk_full" in kinds:
            why = net.mount_small_disk(DISK_NODE(opts.validators))
            if why is not None:
                self.out.skipped["disk_full"] = why
                kinds = tuple(k for k in kinds if k != "disk_full")
                print(f"disk_full faults skipped: {why}")
        net.start()
        t0 = time.monotonic()
        try:
            net.wait_ready(timeout=120)
            self.load = Load(net, opts.rate, opts.seed)
            self.load.start()
            self.idle(2.0)
            schedule = plan(self.rng, opts.validators, kinds, opts.min_faults, opts.hold)
            deadline = t0 + opts.duration_s
            i = 0
            while i < len(schedule) or time.monotonic() < deadline:
                fault = schedule[i] if i < len(schedule) else self._extra(kinds)
                print(f"[{time.monotonic() - t0:6.1f}s] {fault.describe()}", flush=True)
                rec = self.inject(fault)
                self.out.faults.append(rec)
                print(
                    f"          recovered in {rec['recovery_s']}s"
                    if rec["recovered"] else "          NOT recovered",
                    flush=True,
                )  # fmt: skip
                i += 1
                self.idle(self.rng.uniform(0.5, 1.5))
            result = self.finish()
        finally:
            if self.load is not None:
                self.load.stop()
            net.cleanup()
        result["elapsed_s"] = round(time.monotonic() - t0, 1)
        return result

    def _extra(self, kinds: tuple[str, ...]) -> Fault:
        return draw(self.rng, self.rng.choice(kinds), self.opts.validators, self.opts.hold)

    def finish(self) -> dict[str, Any]:
        """Liveness after the last heal, then the invariants over every node's chain."""
        assert self.load is not None
        net = self.net
        heights = net.heights()
        heal_height = max(heights.values(), default=0)
        t = time.monotonic()
        live_s = wait_until(lambda: self.recovered(heal_height + 9), RECOVERY_LIMIT_S, 0.3)
        self.load.stop()

        def all_committed() -> bool:
            self.sample()
            self.load.resubmit_stale(self.live())  # type: ignore[union-attr]
            return all(r.committed or not r.acked for r in self.load.snapshot())  # type: ignore[union-attr]

        pending_s = wait_until(all_committed, RECOVERY_LIMIT_S, 0.5)
        level_s = wait_until(lambda: len(set(net.heights().values())) == 1, 30.0, 0.3)
        liveness = {
            "new_blocks_s": None if live_s is None else round(live_s, 2),
            "pending_committed_s": None if pending_s is None else round(time.monotonic() - t, 2),
            "levelled": level_s is not None,
        }
        chains = checks.fetch_chains(net)
        txs = self.load.snapshot()
        return checks.evaluate(
            chains=chains,
            txs=txs,
            liveness=liveness,
            outcome=self.out,
            net=net,
            memory_limit_mib=self.opts.memory_limit_mib,
        )


def summary_counts(faults: list[dict[str, Any]]) -> dict[str, int]:
    return dict(Counter(f["kind"] for f in faults))


def max_recovery(faults: list[dict[str, Any]]) -> float | None:
    times = [f["recovery_s"] for f in faults if f["recovery_s"] is not None]
    return max(times) if times else None


def write_json(result: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
