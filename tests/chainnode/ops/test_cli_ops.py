"""Exit codes of the operations commands when there is nothing good to work with."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from chainnode.deploy.devnet import init_network
from tests.chainnode.node.cluster import free_port_range
from tests.conftest import subprocess_env


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    e = subprocess_env()
    e.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "chainnode", *args],
        capture_output=True,
        text=True,
        env=e,
        timeout=60,
    )


def test_exit_codes(tmp_path: Path) -> None:
    base = free_port_range(2)
    init_network(tmp_path / "net", 1, api_port_base=base, p2p_port_base=base + 1)
    cfg = tmp_path / "net" / "node0" / "config.toml"
    genesis = tmp_path / "net" / "genesis.json"
    # No node running: the container HEALTHCHECK fails.
    r = _cli("healthcheck", env={"CHAINNODE_CONFIG": str(cfg)})
    assert r.returncode == 1 and "unhealthy" in r.stderr
    # Unreadable inputs are exit 2, distinct from an invalid bundle (1).
    r = _cli("verify-proof", str(tmp_path / "missing.json"), "--genesis", str(genesis))
    assert r.returncode == 2 and "cannot read" in r.stderr
    bundle = tmp_path / "b.json"
    bundle.write_text("{}")
    r = _cli("verify-proof", str(bundle), "--genesis", str(tmp_path / "nope.json"))
    assert r.returncode == 2 and "genesis" in r.stderr
    r = _cli("verify-proof", str(bundle), "--genesis", str(genesis))
    assert r.returncode == 1 and r.stderr.startswith("INVALID: bundle")
