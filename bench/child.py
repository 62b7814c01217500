"""A benchmark's child process, measured: wall and CPU seconds and its own peak RSS.

ru_maxrss from wait4 is not a child's own peak on Linux: a forked child starts with its parent's resident pages
counted and keeps that high-water mark across exec (measured: `python -c pass` reports 13 MB from a small parent,
513 MB from one holding 500 MB). A benchmark that has loaded torch or a corpus would floor every stage's figure at
its own size. So the child is started from a small launcher, which reaps it and hands its rusage back.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

LAUNCHER = r"""
import json, os, sys
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    json.dump({"code": os.waitstatus_to_exitcode(status), "cpu": usage.ru_utime + usage.ru_stime,
               "peak_kb": usage.ru_maxrss}, out)
"""


@dataclass(frozen=True)
class Measured:
    seconds: float  # wall
    cpu_seconds: float  # user + system: less swayed than wall time by other jobs on the cores
    peak_mb: float  # the child's own peak RSS (MiB)
    returncode: int


def run_measured(command: list[str], **popen) -> Measured:
    """Run `command` (stdout, stderr, env, cwd as in subprocess.run) and measure it."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "rusage.json"
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", LAUNCHER, str(report), *command], check=True, **popen)
        seconds = time.perf_counter() - started
        usage = json.loads(report.read_text(encoding="utf-8"))
    return Measured(seconds, usage["cpu"], usage["peak_kb"] / 1024, usage["code"])
