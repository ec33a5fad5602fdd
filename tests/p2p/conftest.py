"""Every async p2p test runs on both event loops the node may use: asyncio's and uvloop's
(their transports differ: uvloop's do not even subclass asyncio.Transport)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any


def pytest_asyncio_loop_factories(
    config: Any, item: Any
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    factories: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
        "asyncio": asyncio.new_event_loop
    }
    try:
        import uvloop
    except ImportError:  # not installed on this platform (e.g. Windows)
        return factories
    factories["uvloop"] = uvloop.new_event_loop
    return factories
