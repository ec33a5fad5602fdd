"""Argument handling of ``bench.run`` and the cluster helpers that need no node."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from bench.harness import cluster, machine
from bench.run import parse_args


def test_defaults_and_derived_tx_count() -> None:
    a = parse_args([])
    assert (a.validators, a.workload, a.txs, a.rate, a.sweep) == (
        4,
        "evidence",
        20_000,
        None,
        False,
    )
    a = parse_args(["--rate", "250", "--duration", "4", "--workload", "mix"])
    assert a.txs == 1000 and a.workload == "mix"
    with pytest.raises(SystemExit):
        parse_args(["--workload", "nope"])
    with pytest.raises(SystemExit):
        parse_args(["--node-env", "NOEQUALS"])


def test_a_long_open_loop_run_gets_a_block_limit_window_that_outlasts_it() -> None:
    # 190,000 txs at 2,100/s: ~90 s, up to ~4,500 blocks at 50 a second
    a = parse_args(["--rate", "2100", "--txs", "190000"])
    assert a.consensus == ["block_limit_window=5524"]
    for short in (["--rate", "2000", "--txs", "20000"], ["--txs", "190000"]):
        assert parse_args(short).consensus == []
    given = ["--rate", "2100", "--txs", "190000", "--consensus", "block_limit_window=3000"]
    assert parse_args(given).consensus == ["block_limit_window=3000"]
    assert parse_args([*given[:4], "--sweep"]).consensus == []
    # another's network: its genesis is not ours to change
    assert parse_args([*given[:4], "--nodes", "http://127.0.0.1:1"]).consensus == []


def test_free_port_base_skips_taken_ports() -> None:
    base = cluster.free_port_base(4)
    assert all(cluster._port_free(base + i) for i in range(4))
    with socket.socket() as s:
        s.bind(("127.0.0.1", base))
        s.listen()
        assert not cluster._port_free(base)


def test_bound_is_cores_times_rate_over_validators() -> None:
    assert machine.bound(2, 4000.0, 4) == 2000.0
    assert machine.bound(2, 4000.0, 1) == 8000.0
    with pytest.raises(ValueError):
        machine.bound(2, 4000.0, 0)
    info = machine.machine_info()
    assert info["cores"] >= 1 and info["python"].count(".") == 2
    assert "python_ssl" in info["openssl"]


def test_sm2_verify_rate_is_measured_with_the_real_backend() -> None:
    rate = machine.sm2_verify_rate(0.2)
    assert 50 < rate < 1_000_000
    wall, per_cpu = machine.sm2_verify_rates(0.2)
    assert per_cpu >= 0.9 * wall  # CPU time never exceeds wall time on one thread


def test_summarize_prints_one_row_per_result(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    import json

    from bench.run import main

    doc = {
        "parameters": {"validators": 4, "workload": "evidence", "backend": None,
                       "backend_name": "openssl", "label": None},
        "offered_tps": 700.0, "tps": 690.5, "bound": 2000.0, "tps_over_bound": 0.345,
        "bound_backend": 2000.0, "latency_p50_s": 0.4, "latency_p95_s": 0.9,
        "latency_p99_s": 1.2, "committed": 100, "rejected": 0, "lost": 0,
    }  # fmt: skip
    paths = []
    for name, backend in (("fast.json", "openssl"), ("slow.json", "gmssl")):
        d = json.loads(json.dumps(doc))
        d["parameters"]["backend_name"] = backend
        (tmp_path / name).write_text(json.dumps(d))
        paths.append(str(tmp_path / name))
    assert main(["--summarize", *paths, "--readme", str(tmp_path / "README.md")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4
    assert "4 val evidence openssl" in out[2] and "4 val evidence gmssl" in out[3]
    assert "690" in out[2] or "691" in out[2]


def test_summarize_regenerates_the_readme_with_machine_commit_and_bound(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Default input: every JSON beside the README; each bench.run row carries the machine,
    commit, date and bound of its own run, crypto results get their table, others are named."""
    import json
    import shutil

    from bench.harness import figures
    from bench.run import main

    data = Path(__file__).resolve().parents[1] / "testdata" / "bench"
    shutil.copy(data / "run-4v-small.json", tmp_path / "run-4v.json")
    shutil.copy(data / "crypto-small.json", tmp_path / "crypto.json")
    (tmp_path / "ledger.json").write_text(json.dumps({"bench": "ledger", "blocks": 3}))
    doc = json.loads((tmp_path / "run-4v.json").read_text())
    doc1 = doc | {"commit": "0123456789abcdef", "started_at": "2026-01-02T03:04:05Z",
                  "bound": 84_000.0, "tps_over_bound": 0.25, "tps": 21_000.0,
                  "machine": doc["machine"] | {"cores": 8, "cpu_model": "Other CPU"}}  # fmt: skip
    (tmp_path / "run-1v.json").write_text(json.dumps(doc1))
    figures.write_run_png(tmp_path / "run-4v.png", doc, "t")
    step = {
        "offered_tps": 900.0,
        "tps": doc["tps"],
        "within_limit": True,
        "committed": 9000,
        "rejected": 0,
        "lost": 0,
        "latency_p50_s": 0.1,
        "latency_p95_s": 0.2,
        "latency_p99_s": 0.3,
        "stage_cpu_us_per_tx": {"verify": 30.0, "other": 70.0},
    }
    at70 = {"offered_tps": 560.0, "tps": 559.0, "tps_over_bound": 0.02}
    (tmp_path / "sweep.json").write_text(
        json.dumps(doc | {"sweep": [step], "at_70pct_of_peak": at70})
    )
    readme = tmp_path / "README.md"
    assert main(["--summarize", "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "python -m bench.run --summarize" in text  # says how to regenerate it
    run_table = text.split("## bench.run")[1].split("## bench.crypto")[0]
    lines = [ln for ln in run_table.splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    for col in ("tps", "bound B", "tps/B", "CPU us/tx/node", "machine", "commit", "date"):
        assert col in header, col
    rows = {}
    for ln in lines[2:]:
        cells = [c.strip() for c in ln.strip("|").split("|")]
        rows[cells[header.index("files")]] = dict(zip(header, cells, strict=True))
    sweep_rows = [
        r
        for ln in lines[2:]
        if "(sweep.json)" in ln
        for r in [dict(zip(header, [c.strip() for c in ln.strip("|").split("|")], strict=True))]
    ]
    assert [r["run"].rsplit(" ", 1)[-1] for r in sweep_rows] == ["peak", "70%"]
    # the peak row's CPU is its step's, the 70% row's the measured run's
    assert (sweep_rows[0]["CPU us/tx/node"], sweep_rows[0]["verify share"]) == ("100", "30%")
    assert sweep_rows[1]["CPU us/tx/node"] == f"{doc['stage_cpu']['process_us_per_tx']:,.0f}"
    rows.pop("[json](sweep.json)")
    assert set(rows) == {"[json](run-1v.json)", "[json](run-4v.json), [png](run-4v.png)"}
    r4 = rows["[json](run-4v.json), [png](run-4v.png)"]
    m = doc["machine"]
    assert r4["machine"] == f"{m['cores']} cores, {m['cpu_model']}"
    assert r4["commit"] == doc["commit"][:10] + (
        "+dirty" if doc["commit"].endswith("+dirty") else ""
    )
    assert r4["date"] == doc["started_at"]
    assert r4["bound B"] == f"{doc['bound']:,.0f}"
    assert r4["CPU us/tx/node"] == f"{doc['stage_cpu']['process_us_per_tx']:,.0f}"
    r1 = rows["[json](run-1v.json)"]
    assert (r1["machine"], r1["commit"], r1["date"]) == (
        "8 cores, Other CPU",
        "0123456789",
        "2026-01-02T03:04:05Z",
    )
    assert (r1["bound B"], r1["tps/B"], r1["tps"]) == ("84,000", "0.250", "21,000")
    crypto = text.split("## bench.crypto")[1]
    assert "[json](crypto.json)" in crypto and "verify / openssl speed" in crypto
    assert "ledger.json" in text.split("Not summarised")[1]
    # regenerating gives the same file
    assert main(["--summarize", "--readme", str(readme)]) == 0
    assert readme.read_text() == text
    # results named from elsewhere are linked relative to the README
    other = tmp_path / "elsewhere" / "README.md"
    assert main(["--summarize", str(tmp_path / "run-4v.json"), "--readme", str(other)]) == 0
    assert "[json](../run-4v.json), [png](../run-4v.png)" in other.read_text()


def test_cpu_split_puts_the_sm2_verify_beside_the_cpu_per_tx() -> None:
    from bench.run import cpu_split

    got = cpu_split(200e-6, 25_000.0)  # 200 us per tx per node; 25,000 verifies per CPU-second
    assert got["node_cpu_us_per_tx"] == pytest.approx(200.0)
    assert got["sm2_verify_us"] == pytest.approx(40.0)
    assert got["sm2_share_pct"] == pytest.approx(20.0)


def test_the_commit_is_dirty_for_code_changes_not_for_recorded_results(tmp_path: Path) -> None:
    """A real git checkout: rewriting bench/results (what regenerating the table does run by
    run) keeps the commit clean; a change to code marks it ``+dirty``."""
    import subprocess

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "bench" / "results").mkdir(parents=True)
    (tmp_path / "bench" / "results" / "run.json").write_text("{}")
    (tmp_path / "node.py").write_text("x = 1\n")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "c")
    head = subprocess.run(
        ["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    assert machine.source_commit(tmp_path) == head
    (tmp_path / "bench" / "results" / "run.json").write_text('{"tps": 1}')
    assert machine.source_commit(tmp_path) == head
    (tmp_path / "node.py").write_text("x = 2\n")
    assert machine.source_commit(tmp_path) == head + "+dirty"
