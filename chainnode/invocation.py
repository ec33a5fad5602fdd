"""The ``chainnode`` command as the user can type it, for the hints that messages print.

``make run`` starts ``.venv/bin/chainnode``, which is not on PATH: a hint saying
``chainnode tx send …`` would fail when pasted. Every hint names the program the way this
process was started instead: ``chainnode`` only when that name on PATH is this very program,
else its path (relative to the working directory when below it), or ``python -m chainnode``
with the interpreter's path when started that way.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

NAME = "chainnode"


def _shown(path: str) -> str:
    """A path that works from the current directory, as short as it can be: relative when
    below it (not below ``/``), and never a bare name (which would search PATH)."""
    p = Path(path)
    cwd = os.getcwd()
    if p.is_absolute() and cwd != "/":
        try:  # abspath, not resolve: the venv's python is a symlink whose name is what counts
            p = Path(os.path.abspath(p)).relative_to(cwd)
        except ValueError:
            return str(p)
    return str(p) if len(p.parts) > 1 or p.is_absolute() else f"./{p}"


def program(argv0: str | None = None, executable: str | None = None) -> str:
    """The command that runs chainnode again, ready to paste into a shell."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    executable = sys.executable if executable is None else executable
    base = os.path.basename(argv0)
    if base in ("__main__.py", "-m", "-c", "") or argv0.endswith(f"{NAME}/__main__.py"):
        return f"{shlex.quote(_shown(executable))} -m {NAME}"
    found = shutil.which(base)
    if base == NAME and found is not None:
        try:
            if os.path.samefile(found, shutil.which(argv0) or argv0):
                return NAME
        except OSError:
            pass
    return shlex.quote(_shown(argv0))


def command(*words: str) -> str:
    """``program()`` followed by ``words`` (already shell-quoted where needed)."""
    return " ".join((program(), *words))
