"""A real full disk for tests: a command runs with a folder mounted as a tiny tmpfs, in a private user and
mount namespace (`unshare -rm`), so no root is needed and nothing outlives the command."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).parents[2] / "src"


def small_disk_available() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    probe = subprocess.run([unshare, "-rm", "true"], capture_output=True, timeout=30)
    return probe.returncode == 0


needs_small_disk = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not small_disk_available(),
    reason="needs unprivileged user namespaces (unshare -rm) to mount a tiny tmpfs",
)


def run_wmemb_on_small_disk(disk: Path, size: str, *args: str | os.PathLike) -> subprocess.CompletedProcess:
    """Run `wmemb ARGS` with `disk` a fresh tmpfs of `size` (e.g. "64k"); prints `left: ...` (what stays on
    the disk) after wmemb's own output, since the tmpfs goes with the namespace."""
    disk.mkdir(parents=True, exist_ok=True)
    wmemb = shlex.join([sys.executable, "-m", "wmemb.cli", *map(str, args)])
    script = f"mount -t tmpfs -o size={size} none {shlex.quote(str(disk))} && {wmemb}; status=$?; " + (
        f"echo left: $(ls -A {shlex.quote(str(disk))}); exit $status"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        "COLUMNS": "400",
    }
    return subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=600, env=env)
