"""Shared test setup: hypothesis profiles and the paths tests read from."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO_ROOT = Path(__file__).resolve().parent.parent
# The published SM2/SM3/SM4 vectors live in the repository (tests/vectors/README.md names
# their sources): a user's fresh clone has everything its tests read.
VECTORS_DIR = Path(os.environ.get("CHAINNODE_VECTORS", REPO_ROOT / "tests" / "vectors"))

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "fuzz", max_examples=5000, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def vectors_dir() -> Path:
    if not VECTORS_DIR.is_dir():
        pytest.fail(f"test vectors not found at {VECTORS_DIR} (set CHAINNODE_VECTORS)")
    return VECTORS_DIR


def subprocess_env() -> dict[str, str]:
    """Environment for child processes: they import this checkout, whatever the cwd."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


# -- test levels: `make check` runs the unit tests, `make test` everything ----------------------
# A module's level is the first of these its path starts with; anything else is `unit` (no
# process or socket of its own, quick). Directory-wide entries end in "/".
E2E = (
    "tests/chaos/test_chaos.py",
    "tests/chainnode/node/test_cluster.py",
    "tests/chainnode/node/test_governance.py",
    "tests/chainnode/node/test_network_up.py",
    "tests/chainnode/node/test_user_path.py",
    "tests/chainnode/node/test_schemathesis.py",
    "tests/chainnode/ops/test_cli_ops.py",
    "tests/chainnode/ops/test_consortium.py",
    "tests/chainnode/ops/test_consortium_netns.py",
    "tests/chainnode/ops/test_org_deploy.py",
    "tests/chainnode/ops/test_deploy.py",
    "tests/chainnode/ops/test_multihost.py",
    "tests/chainnode/ops/test_node_ops.py",
    "tests/chainnode/ops/test_proofs_cluster.py",
    "tests/bench/test_run_e2e.py",
    "tests/chainnode/node/test_torn_wal.py",
    "tests/chainnode/node/test_execution_limits.py",
    "tests/chainnode/backup/test_backup_e2e.py",
    "tests/chainnode/backup/test_prune_node.py",
    "tests/console/",
    "tests/test_readme.py",
    "tests/test_packaging.py",
)
INTEGRATION = (
    "tests/p2p/test_network.py",
    "tests/p2p/test_security.py",
    "tests/p2p/test_fuzz_wire.py",
    "tests/chaos/test_partition.py",
    "tests/chainnode/node/test_api.py",
    "tests/chainnode/backup/test_restore.py",
    "tests/chainnode/backup/test_admin.py",
    "tests/chainnode/backup/test_prune.py",
    "tests/chainnode/backup/test_archive.py",
    "tests/chainnode/node/test_blocksync.py",
    "tests/chainnode/node/test_http_attacks.py",
    "tests/chainnode/ops/test_key_files_cli.py",
    "tests/chainnode/ops/test_api_tls.py",
    "tests/chainnode/cli/test_invocation.py",
    "tests/storage/test_crash.py",
    "tests/storage/test_store.py",
    "tests/crypto/test_openssl_cli.py",
    "tests/crypto/test_backends.py",
    "tests/contracts/test_compiler.py",
    "tests/contracts/test_tool.py",
    "tests/contracts/test_determinism.py",
    "tests/consensus/test_soak.py",
    "tests/consensus/test_soak_cli.py",
    "tests/consensus/test_sim_sm2.py",
    "tests/consensus/test_torn_tail.py",
    "tests/bench/test_procstat.py",
    "tests/bench/test_hurry_bench.py",
    "tests/chainnode/node/test_views_off_loop.py",
    "tests/chainnode/node/test_programs_off_loop.py",
    "tests/chainnode/node/test_docs_packaged.py",
    "tests/chainnode/node/test_batching_node.py",
    "tests/p2p/test_frame_bombs.py",
    # cross-backend differential and property runs: seconds each, not the quick loop
    "tests/crypto/test_sm2_native.py",
    "tests/crypto/test_sm2_properties.py",
    "tests/fuzz/",
)


def level_of(relpath: str) -> str:
    if relpath.startswith(E2E):
        return "e2e"
    if relpath.startswith(INTEGRATION):
        return "integration"
    return "unit"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        rel = Path(str(item.path)).resolve().relative_to(REPO_ROOT).as_posix()
        item.add_marker(getattr(pytest.mark, level_of(rel)))
