"""The standard contracts, shipped as source in the contract language.

``source(name)`` returns the text of ``<name>.py`` next to this file; ``compiled(name)``
its bytecode (compiled once per process). Each module's docstring documents its methods.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from contracts.compiler import compile_source
from contracts.errors import ContractError

NAMES: tuple[str, ...] = ("evidence", "traceability", "records")


def source(name: str) -> str:
    """The source text of standard contract ``name``."""
    if name not in NAMES:
        raise ContractError(f"no standard contract {name!a} (have {', '.join(NAMES)})")
    return resources.files(__name__).joinpath(f"{name}.py").read_text(encoding="utf-8")


@cache
def compiled(name: str) -> bytes:
    """The bytecode of standard contract ``name``."""
    return compile_source(source(name))
