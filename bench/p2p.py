"""P2P benchmark: frames/s and MB/s between two nodes on loopback, secure vs plain framing.

    python -m bench.p2p [--sizes 1024,65536] [--seconds 2] [--repeats 3] [--procs 2]
                        [--loop uvloop|asyncio] [--json bench/results/p2p.json]

Both columns run the same `p2p.Network` code (handshake, queues, coalescing into records,
framing, dispatch); "plain" only skips the SM4-GCM seal/open of each record (a private
benchmark switch), so the ratio prices the cipher. Node A sends `--seconds` worth of frames
of each size on the consensus channel to node B, with flow control (`drain`); the clock stops
when B has received the last one. With `--procs 2` (default) B runs in a child process, as two
validators would; `--procs 1` puts both nodes on one event loop. Modes alternate in each
repeat; the best repeat is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench.harness.machine import machine_info
from bench.harness.report import table, write_json
from crypto.sm2 import PrivateKey
from crypto.sm4 import gcm_backend_info
from p2p import Channel, Network, P2PConfig

CHAIN = b"bench-p2p"
CHANNEL = Channel.CONSENSUS


def _config(key: PrivateKey, peers: list[tuple[bytes, str, int]], allowed: set[bytes]) -> P2PConfig:
    return P2PConfig(
        CHAIN,
        key,
        "127.0.0.1",
        0,
        peers=peers,
        allowed=allowed,
        keepalive_interval=5.0,
        keepalive_timeout=30.0,
    )


def _set_loop(name: str) -> None:
    if name == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


class Receiver:
    """Counts frames; resolves a future once `target` frames (or bytes) have arrived."""

    def __init__(self) -> None:
        self.frames = 0
        self.bytes = 0
        self.target = -1
        self.done: asyncio.Future[float] | None = None

    def expect(self, frames: int) -> asyncio.Future[float]:
        self.frames = 0
        self.bytes = 0
        self.target = frames
        self.done = asyncio.get_running_loop().create_future()
        return self.done

    def __call__(self, _peer: bytes, payload: bytes) -> None:
        self.frames += 1
        self.bytes += len(payload)
        if self.frames == self.target and self.done is not None and not self.done.done():
            self.done.set_result(time.perf_counter())


async def _send(a: Network, b_id: bytes, size: int, n: int) -> None:
    payload = bytes(size)
    every = max(1, (256 * 1024) // size)
    for i in range(n):
        if not a.send(b_id, CHANNEL, payload):
            raise RuntimeError("frame dropped: flow control failed")
        if i % every == every - 1:
            await a.drain(b_id, low_water=512 * 1024)


def _cipher_bound(size: int) -> float:
    """Frames per CPU-second that SM4-GCM alone allows: seal plus open of records coalesced
    like the network's (64 KiB of frames per record), timed by CPU time."""
    from p2p.connection import COALESCE_BYTES
    from p2p.framing import encode_frame
    from p2p.session import SecureSession

    k1, k2 = bytes(range(16)), bytes(range(16, 32))
    tx, rx = SecureSession(k1, k2), SecureSession(k2, k1)
    frame = encode_frame(CHANNEL, bytes(size))
    per_record = max(1, COALESCE_BYTES // len(frame))
    plaintext = frame * per_record
    n = 0
    c0 = time.process_time()
    while time.process_time() - c0 < 0.5 or n < 3:
        record = tx.seal_record(plaintext)
        rx.open_record(record[:4], record[4:])
        n += 1
    return n * per_record / (time.process_time() - c0)


def _calibrate(size: int, seconds: float) -> int:
    # frames per run: enough for ~`seconds` at a generous rate, bounded
    return max(200, min(400_000, int(seconds * 200e6 / size / 4)))


# ---- one process ---------------------------------------------------------------------


async def _pair(plain: bool) -> tuple[Network, Network, Receiver]:
    ka, kb = PrivateKey.generate(), PrivateKey.generate()
    pa, pb = ka.public_key().to_bytes(), kb.public_key().to_bytes()
    b = Network(_config(kb, [], {pa}), _plaintext_for_benchmark=plain)
    rx = Receiver()
    b.on_message(CHANNEL, rx)
    await b.start()
    a = Network(_config(ka, [(pb, "127.0.0.1", b.port)], {pb}), _plaintext_for_benchmark=plain)
    await a.start()
    await a.wait_for_peers([pb], 10)
    await b.wait_for_peers([pa], 10)
    return a, b, rx


async def _run_local(size: int, n: int, plain: bool) -> tuple[float, float]:
    a, b, rx = await _pair(plain)
    try:
        warm = rx.expect(min(n, 2000))
        await _send(a, b.peer_id, size, min(n, 2000))  # warm-up
        await asyncio.wait_for(warm, 60)
        done = rx.expect(n)
        c0 = time.process_time()
        t0 = time.perf_counter()
        await _send(a, b.peer_id, size, n)
        t1 = await asyncio.wait_for(done, 120)
        return t1 - t0, time.process_time() - c0
    finally:
        await a.stop()
        await b.stop()


# ---- two processes -------------------------------------------------------------------


def _child(conn: Connection, loop_name: str, plain: bool, sender_pub: bytes) -> None:
    _set_loop(loop_name)

    async def main() -> None:
        kb = PrivateKey.generate()
        b = Network(_config(kb, [], {sender_pub}), _plaintext_for_benchmark=plain)
        rx = Receiver()
        b.on_message(CHANNEL, rx)
        await b.start()
        conn.send((kb.public_key().to_bytes(), b.port))
        loop = asyncio.get_running_loop()
        while True:
            cmd = await loop.run_in_executor(None, conn.recv)
            if cmd is None:
                break
            done = rx.expect(int(cmd))
            c0 = time.process_time()
            conn.send("ready")
            await asyncio.wait_for(done, 300)
            conn.send(("got", rx.frames, rx.bytes, time.time(), time.process_time() - c0))
        await b.stop()

    asyncio.run(main())


async def _run_procs(size: int, n: int, plain: bool, loop_name: str) -> tuple[float, float]:
    ka = PrivateKey.generate()
    pa = ka.public_key().to_bytes()
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_child, args=(child, loop_name, plain, pa), daemon=True)
    proc.start()
    loop = asyncio.get_running_loop()
    try:
        pb, port = await loop.run_in_executor(None, parent.recv)
        a = Network(_config(ka, [(pb, "127.0.0.1", port)], {pb}), _plaintext_for_benchmark=plain)
        await a.start()
        try:
            await a.wait_for_peers([pb], 20)
            result = (0.0, 0.0)
            for count in (min(n, 2000), n):  # warm-up, then the timed run
                parent.send(count)
                assert await loop.run_in_executor(None, parent.recv) == "ready"
                c0 = time.process_time()
                t0 = time.time()
                await _send(a, pb, size, count)
                _, frames, nbytes, t1, child_cpu = await loop.run_in_executor(None, parent.recv)
                assert frames == count and nbytes == count * size
                result = (t1 - t0, time.process_time() - c0 + child_cpu)
            return result
        finally:
            await a.stop()
    finally:
        parent.send(None)
        proc.join(10)


# ---- driver --------------------------------------------------------------------------


# long: the command's one linear script: parse, run, report
def main(
    argv: list[str] | None = None,
) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.p2p", description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1024,65536", help="frame payload sizes in bytes")
    ap.add_argument("--seconds", type=float, default=2.0, help="target length of one run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--procs", type=int, choices=(1, 2), default=2)
    ap.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    ap.add_argument("--json", type=Path, default=Path("bench/results/p2p.json"))
    args = ap.parse_args(argv)
    _set_loop(args.loop)
    sizes = [int(s) for s in args.sizes.split(",")]

    async def run(size: int, n: int, plain: bool) -> tuple[float, float]:
        if args.procs == 1:
            return await _run_local(size, n, plain)
        return await _run_procs(size, n, plain, args.loop)

    rows: list[dict[str, Any]] = []
    for size in sizes:
        n = _calibrate(size, args.seconds)
        best: dict[str, float] = {"secure": float("inf"), "plain": float("inf")}
        best_cpu: dict[str, float] = dict(best)
        for rep in range(args.repeats):
            order = ["plain", "secure"] if rep % 2 else ["secure", "plain"]
            for mode in order:
                dt, cpu = asyncio.run(run(size, n, mode == "plain"))
                best[mode] = min(best[mode], dt)
                best_cpu[mode] = min(best_cpu[mode], cpu)
        for mode in ("plain", "secure"):
            dt, cpu = best[mode], best_cpu[mode]
            rows.append(
                {
                    "mode": mode,
                    "frame_bytes": size,
                    "frames": n,
                    "wall_s": round(dt, 3),
                    "frames_per_s": round(n / dt),
                    "MB_per_s": round(n * size / dt / 1e6, 1),
                    "cpu_s": round(cpu, 3),
                    "frames_per_cpu_s": round(n / cpu),
                    "ratio_wall": None,
                    "ratio_cpu": None,
                    "cipher_bound_per_cpu_s": None,
                }
            )
        rows[-1]["ratio_wall"] = round(best["plain"] / best["secure"], 3)
        rows[-1]["ratio_cpu"] = round(best_cpu["plain"] / best_cpu["secure"], 3)
        rows[-1]["cipher_bound_per_cpu_s"] = round(_cipher_bound(size))
    print(
        f"p2p loopback, {args.procs} process(es), loop={args.loop}, best of {args.repeats}; "
        "payload MB/s (1 MB = 1e6 bytes); cpu_s = CPU time of both nodes; "
        "ratio = secure/plain throughput (by wall clock, by CPU time)"
    )
    print(f"SM4-GCM backend: {gcm_backend_info()}")
    print(table(rows))
    write_json(
        args.json,
        {
            "benchmark": "p2p",
            "args": {k: str(v) for k, v in vars(args).items()},
            "machine": machine_info(),
            "sm4_backend": gcm_backend_info(),
            "rows": rows,
        },
    )
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
