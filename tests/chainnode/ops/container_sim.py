"""Start one compose service the way its container would start, without a Docker engine.

Run inside fresh namespaces (``unshare --net --mount`` or ``ip netns exec NS unshare --mount``)
with a JSON spec: it brings loopback up, mounts what the compose file mounts (bind mounts for
files, a directory for a named volume; read-only where the compose file says ``:ro``) at the
container paths, optionally an /etc/hosts, then execs the image's entrypoint + the service's
command with the image's and the service's environment. Nothing leaks: the mount namespace is
private and dies with the process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _run(*args: str) -> None:
    subprocess.run(args, check=True)


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    if spec.get("lo_up"):
        _run("ip", "link", "set", "lo", "up")
    for d in spec["tmpfs"]:  # container directories: empty, private to this process
        _run("mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", d)
    for m in spec["mounts"]:
        src, dst = m["source"], m["target"]
        if os.path.isdir(src):
            os.makedirs(dst, exist_ok=True)
        elif not os.path.exists(dst):
            Path(dst).touch()
        _run("mount", "--bind", src, dst)
        if m["read_only"]:
            _run("mount", "-o", "remount,bind,ro", dst)
    os.chdir(spec.get("workdir", "/"))
    os.execvpe(spec["argv"][0], spec["argv"], spec["env"])


if __name__ == "__main__":
    main(sys.argv[1])
