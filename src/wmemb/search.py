"""Bounds of exact search over a corpus's vectors, shared by mine and evaluate (torch-free: the CLI imports
mine's options without loading torch)."""

from __future__ import annotations

from pathlib import Path

from wmemb.errors import WMEmbError

SCORE_BUDGET = 1 << 24
"""Most query x passage scores held at once during search (64 MiB of float32)."""
MEMINFO = Path("/proc/meminfo")


def check_vectors_fit(passages: int, dimension: int | None, advice: str) -> None:
    """Refuse in one line a corpus whose vectors the memory cannot hold (the kernel would kill the process
    midway, after the encoding time was spent). Encoding stacks the batches' float32 vectors into one copy:
    twice the vectors at the peak."""
    need = 2 * passages * (dimension or 0) * 4
    available = available_memory()
    if available is not None and need > available:
        raise WMEmbError(
            f"{passages:,} passages x {dimension} dimensions need {need / 1e9:.1f} GB for their vectors, and "
            f"{available / 1e9:.1f} GB of memory is available; {advice}"
        )


def available_memory() -> int | None:
    """Bytes the system can give without swapping (Linux MemAvailable); None where it does not say."""
    try:
        lines = MEMINFO.read_text(encoding="ascii").splitlines()
    except OSError:
        return None
    found = [int(line.split()[1]) * 1024 for line in lines if line.startswith("MemAvailable:")]
    return found[0] if found else None
