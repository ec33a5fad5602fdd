"""`keygen --force` and `network init --force` replace key files (0600), never follow a symlink
planted where a key goes, and refuse to overwrite without --force with a message that says so."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import subprocess_env


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chainnode", *args],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=60,
    )


def _mode(p: Path) -> int:
    return p.lstat().st_mode & 0o777


def test_keygen_force_over_0644_file_and_symlink(tmp_path: Path) -> None:
    key = tmp_path / "me.pem"
    key.write_text("old")
    key.chmod(0o644)
    refused = cli("keygen", "--out", str(key))
    assert refused.returncode == 1 and "--force" in refused.stderr
    assert key.read_text() == "old"
    assert cli("keygen", "--out", str(key), "--force").returncode == 0
    assert _mode(key) == 0o600 and key.read_text().startswith("-----BEGIN")

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    link = tmp_path / "link.pem"
    link.symlink_to(victim)
    refused = cli("keygen", "--out", str(link))
    assert refused.returncode == 1 and "already exists" in refused.stderr
    assert cli("keygen", "--out", str(link), "--force").returncode == 0
    assert not link.is_symlink() and _mode(link) == 0o600
    assert victim.read_text() == "precious"


def test_network_init_force_replaces_keys_and_never_follows_a_symlink(tmp_path: Path) -> None:
    net = tmp_path / "net"
    ports = ("--api-port-base", "18700", "--p2p-port-base", "18800")
    (net / "node0").mkdir(parents=True)
    (net / "admin.pem").write_text("leftover")
    refused = cli("network", "init", "-n", "1", "--out", str(net), *ports)
    assert refused.returncode == 1 and "--force" in refused.stderr
    assert (net / "admin.pem").read_text() == "leftover"

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    victim.chmod(0o644)
    (net / "node0" / "node.pem").symlink_to(victim)
    (net / "admin.pem").chmod(0o644)
    assert cli("network", "init", "-n", "1", "--out", str(net), *ports, "--force").returncode == 0
    for key in (net / "admin.pem", net / "node0" / "node.pem"):
        assert not key.is_symlink() and _mode(key) == 0o600
        assert key.read_text().startswith("-----BEGIN")
    assert victim.read_text() == "precious" and _mode(victim) == 0o644
