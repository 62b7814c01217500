"""Bounds of exact search over a corpus's vectors, shared by mine and evaluate (torch-free: the CLI imports
mine's options without loading torch)."""

from __future__ import annotations

import psutil

from wmemb.errors import WMEmbError

SCORE_BUDGET = 1 << 24
"""Most query x passage scores held at once during search (64 MiB of float32)."""


def check_vectors_fit(passages: int, dimension: int | None, advice: str) -> None:
    """Refuse in one line a corpus whose vectors the memory cannot hold (the kernel would kill the process
    midway, after the encoding time was spent). Encoding stacks the batches' float32 vectors into one copy:
    twice the vectors at the peak."""
    need = 2 * passages * (dimension or 0) * 4
    available = psutil.virtual_memory().available  # what can be given without swapping, on Linux, macOS and Windows
    if need > available:
        raise WMEmbError(
            f"{passages:,} passages x {dimension} dimensions need {need / 1e9:.1f} GB for their vectors, and "
            f"{available / 1e9:.1f} GB of memory is available; {advice}"
        )
