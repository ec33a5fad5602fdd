"""Schemathesis over the node's own /openapi.json against a running node: no 5xx, responses
match the documented status codes, content types and schemas."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.chainnode.node.cluster import Cluster
from tests.conftest import subprocess_env

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def test_schemathesis_finds_no_server_errors(single: Cluster, tmp_path: Path) -> None:
    before = single.status(0)
    schemathesis = Path(sys.executable).parent / "schemathesis"
    out = subprocess.run(
        [str(schemathesis), "run", single.url(0) + "/openapi.json", "--checks", CHECKS,
         "--phases", "coverage,fuzzing", "--max-examples", os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "8"), "--seed", "7",
         "--request-timeout", "20",
         # an SSE stream never ends by itself; tests/chainnode/ops/test_node_ops.py covers it
         "--exclude-path", "/v1/events"],
        capture_output=True, text=True, env=subprocess_env(), timeout=180, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-6000:]
    assert "internal error on" not in single.log(0)
    after = single.status(0)
    assert (after["height"], after["head_hash"]) == (before["height"], before["head_hash"])
