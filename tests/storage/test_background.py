"""LevelDB's background thread at a lower CPU priority (storage.background).

Each case runs in a fresh interpreter: LevelDB starts one background thread per process, once.
The nice values and CPU times are read from /proc here, not through the module under test.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROC_STAT = textwrap.dedent(
    """
    import json, os, threading
    def stat(tid):
        text = open(f"/proc/self/task/{tid}/stat").read()
        fields = text[text.rindex(")") + 2 :].split()
        return {"nice": int(fields[16]), "cpu": int(fields[11]) + int(fields[12])}
    def threads():
        return {int(t): stat(int(t)) for t in os.listdir("/proc/self/task")}
    BASE = stat(threading.get_native_id())["nice"]  # the test run itself may be niced
    """
)


def run_child(body: str, tmp_path: Path) -> dict[str, object]:
    code = PROC_STAT + textwrap.dedent(body)
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_flushes_and_compactions_run_on_the_lowered_thread(tmp_path: Path) -> None:
    result = run_child(
        """
        import sys
        import plyvel
        from storage import Store
        from storage.background import background_cpu_seconds, lower_background_priority
        tid = lower_background_priority(19)
        python_threads = [t.native_id for t in threading.enumerate()]
        before = threads()
        cpu_before = background_cpu_seconds()
        store = Store.open(sys.argv[1] + "/store", b"chain-x")  # a real store opens beside it
        db = plyvel.DB(sys.argv[1] + "/bulk", create_if_missing=True, write_buffer_size=1 << 20)
        for i in range(60_000):
            db.put(os.urandom(16), os.urandom(200))
        db.compact_range()  # flushes and compacts ~12 MB: background work
        after = threads()
        cpu_after = background_cpu_seconds()
        store.close()
        db.close()
        print(json.dumps({
            "tid": tid, "python": python_threads, "before": before, "after": after,
            "again": lower_background_priority(19), "base": BASE,
            "cpu": cpu_after - cpu_before,
        }))
        """,
        tmp_path,
    )
    tid = result["tid"]
    assert isinstance(tid, int)
    assert tid not in result["python"]  # type: ignore[operator]
    before = {int(k): v for k, v in result["before"].items()}  # type: ignore[attr-defined]
    after = {int(k): v for k, v in result["after"].items()}  # type: ignore[attr-defined]
    assert after[tid]["nice"] == 19
    # every other thread kept the process's priority
    assert all(v["nice"] == result["base"] for t, v in after.items() if t != tid)
    # the work happened on it: it used CPU (clock ticks, 1/100 s) while the DB compacted
    ticks = after[tid]["cpu"] - before[tid]["cpu"]
    assert ticks >= 5
    # background_cpu_seconds reads that thread's CPU (in ns, not the ticks read here)
    assert result["cpu"] == pytest.approx(ticks / 100, abs=0.05)
    # LevelDB started no other thread for the new databases
    assert set(after) <= set(before)  # (the starter thread may still be leaving /proc in before)
    assert result["again"] == tid


def test_too_late_once_a_store_started_the_thread(tmp_path: Path) -> None:
    result = run_child(
        """
        import sys
        import plyvel
        from storage.background import lower_background_priority
        db = plyvel.DB(sys.argv[1] + "/first", create_if_missing=True)
        db.put(b"k", b"v")
        db.compact_range()  # starts LevelDB's background thread at the default priority
        before = threads()  # LevelDB's background thread among them
        tid = lower_background_priority(19)
        after = threads()
        print(json.dumps({"tid": tid, "base": BASE, "nices": [
            after[t]["nice"] for t in before if t in after]}))
        """,
        tmp_path,
    )
    assert result["tid"] is None
    assert result["nices"] == [result["base"]] * len(result["nices"])  # type: ignore[arg-type]


def test_never_above_the_callers_priority(tmp_path: Path) -> None:
    result = run_child(
        """
        from storage.background import lower_background_priority
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 17)
        tid = lower_background_priority(12)
        print(json.dumps({"tid": tid, "nice": stat(tid)["nice"] if tid else None}))
        """,
        tmp_path,
    )
    assert isinstance(result["tid"], int)
    assert result["nice"] == 17


@pytest.mark.parametrize("nice", [0, 20, -1])
def test_nice_out_of_range_is_refused(nice: int) -> None:
    from storage.background import lower_background_priority

    with pytest.raises(ValueError, match="1..19"):
        lower_background_priority(nice)
