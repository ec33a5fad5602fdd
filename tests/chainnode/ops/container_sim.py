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
    # paths the container must still see (this checkout and its venv: the "image"), held open
    # so that a container mount over a parent of one (an emptyDir at /tmp while the checkout
    # lives in /tmp) can be undone for it below
    keep = {p: os.open(p, os.O_PATH | os.O_DIRECTORY) for p in spec.get("keep", [])}
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
    for path, fd in keep.items():
        held = os.fstat(fd)
        try:
            now = os.stat(path)
            if (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):
                continue
        except FileNotFoundError:
            pass
        os.makedirs(path, exist_ok=True)
        # the held directory itself (a magic link), not whatever the path names now
        _run("mount", "--no-canonicalize", "--bind", f"/proc/{os.getpid()}/fd/{fd}", path)
    os.chdir(spec.get("workdir", "/"))
    os.execvpe(spec["argv"][0], spec["argv"], spec["env"])


if __name__ == "__main__":
    main(sys.argv[1])
