"""glibc's hold on freed blocks, measured in a fresh process (RSS from /proc/self/statm)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from wmemb import memory

pytestmark = pytest.mark.skipif(memory._glibc() is None or sys.platform != "linux", reason="glibc on Linux")

# Allocate an 8 MiB block, touch it, free it; twice. The first one is mapped on its own (over glibc's starting
# 128 KiB threshold) and its free raises the threshold to 8 MiB, so the second comes from the heap and stays.
CHILD = """
import ctypes, ctypes.util, os, sys
from wmemb.memory import map_large_blocks
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
if sys.argv[1] == "mapped":
    map_large_blocks()
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
before = rss()
for _ in range(2):
    block = libc.malloc(8 << 20)
    ctypes.memset(block, 1, 8 << 20)
    libc.free(block)
print(rss() - before)
"""


def held_after_free(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_large_blocks_go_back_to_the_system_when_freed():
    assert held_after_free("default") >= 7 << 20  # glibc keeps the second block's pages
    assert held_after_free("mapped") < 1 << 20


def test_returning_freed_memory_runs_where_there_is_no_glibc(monkeypatch):
    monkeypatch.setattr(memory, "_glibc", lambda: None)
    memory.return_freed_memory()
    memory.map_large_blocks()
