"""Argument handling of ``bench.run`` and the cluster helpers that need no node."""

from __future__ import annotations

import socket

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
    assert main(["--summarize", *paths]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4
    assert "4 val evidence openssl" in out[2] and "4 val evidence gmssl" in out[3]
    assert "690" in out[2] or "691" in out[2]
