"""CPU per process from /proc, children included."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.harness import procstat


def test_tree_cpu_includes_children() -> None:
    assert procstat.available()
    code = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', "
        "'import time\\nt=time.process_time()\\nwhile time.process_time()-t<0.6: pass\\n"
        "time.sleep(30)'])\n"
        "time.sleep(30)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 20
        used = 0.0
        while time.monotonic() < deadline:
            used = procstat.tree_cpu_seconds([parent.pid])[parent.pid]
            if used >= 0.6:
                break
            time.sleep(0.1)
        assert used >= 0.6  # the busy grandchild's CPU counts for the parent
        assert procstat.tree_cpu_seconds([os.getpid()])[os.getpid()] > 0
        assert procstat.tree_cpu_seconds([2**22 + 12345]) == {2**22 + 12345: 0.0}
    finally:
        for kid in procstat._children().get(parent.pid, []):
            os.kill(kid, 9)
        parent.kill()
        parent.wait()
