"""Fixtures: one real single-validator node (a child process) shared by a test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.chainnode.node.cluster import Cluster


@pytest.fixture(scope="session")
def single(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("single"), 1)  # shared by the API and fuzz tests
    try:
        c.start_all()
        c.wait_height(1, timeout=60)
        yield c
    finally:
        c.close()
