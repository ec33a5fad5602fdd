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
