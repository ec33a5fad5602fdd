"""The files of a generated network directory: one place names them for every generator."""

from __future__ import annotations

from pathlib import Path

GENESIS = "genesis.json"
ADMIN_KEY = "admin.pem"
NODE_KEY = "node.pem"
CONFIG = "config.toml"
MEMBER = "member.json"  # an organisation's public card (org init)
NODE_LOG = "node.log"  # a launched validator's log (rotated by size and at each start)
NODE_OUT = "node.out"  # its stdout and stderr, fresh at each start


def node_dirs(out: Path) -> list[Path]:
    """The ``node<i>`` directories of a network directory that hold a config, in index order."""
    found = [p for p in out.glob("node*") if (p / CONFIG).is_file() and p.name[4:].isdigit()]
    return sorted(found, key=lambda p: int(p.name[4:]))
