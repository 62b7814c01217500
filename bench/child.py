"""A benchmark's child process, measured: wall and CPU seconds and its own peak RSS.

ru_maxrss from wait4 is not a child's own peak on Linux: a forked child starts with its parent's resident pages
counted and keeps that high-water mark across exec (measured: `python -c pass` reports 13 MB from a small parent,
513 MB from one holding 500 MB). A benchmark that has loaded torch or a corpus would floor every stage's figure at
its own size. So the child is started from a small launcher, which reaps it and hands its rusage back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

LAUNCHER = r"""
import json, os, sys
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
with open(sys.argv[1] + ".pid", "w") as out:
    out.write(str(pid))
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
    returncode: int  # negative: killed by that signal


class MeasuredChild:
    """`command` running under the launcher (stdout, stderr, env, cwd as in subprocess.Popen)."""

    def __init__(self, command: list[str], **popen):
        self._folder = tempfile.TemporaryDirectory()
        self._report = Path(self._folder.name) / "rusage.json"
        self._started = time.perf_counter()
        self._launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(self._report), *command], **popen)

    def running(self) -> bool:
        return self._launcher.poll() is None

    def kill(self) -> None:
        """SIGKILL the command itself (not the launcher, which still reaps it and reports)."""
        pid_file = self._report.with_name(self._report.name + ".pid")
        while not pid_file.is_file() or not pid_file.read_text():
            time.sleep(0.01)
        os.kill(int(pid_file.read_text()), signal.SIGKILL)

    def wait(self) -> Measured:
        if self._launcher.wait():
            raise subprocess.CalledProcessError(self._launcher.returncode, self._launcher.args)
        seconds = time.perf_counter() - self._started
        usage = json.loads(self._report.read_text(encoding="utf-8"))
        self._folder.cleanup()
        return Measured(seconds, usage["cpu"], usage["peak_kb"] / 1024, usage["code"])


def run_measured(command: list[str], **popen) -> Measured:
    """Run `command` to its end and measure it."""
    return MeasuredChild(command, **popen).wait()
