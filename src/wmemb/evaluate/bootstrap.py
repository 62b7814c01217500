"""Paired bootstrap over queries: how sure is a difference between two models on the same questions?

Both models answer the same queries, so the per-query differences are resampled (with replacement,
as many as there are queries) and the mean difference of each resample is recorded; the middle 95%
of those means is the interval. Pairing removes the variation between easy and hard queries that
an unpaired comparison would carry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

RESAMPLES = 10_000
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Difference:
    """Mean per-query difference (second model minus first) with its bootstrap interval."""

    mean: float
    low: float
    high: float
    queries: int
    confidence: float

    @property
    def within_noise(self) -> bool:
        """The interval includes zero: these queries cannot tell the models apart."""
        return self.low <= 0.0 <= self.high


def paired_bootstrap(
    first: Sequence[float],
    second: Sequence[float],
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> Difference:
    """Mean of `second - first` over queries and its percentile interval from `resamples` resamples."""
    differences = np.asarray(second, dtype=np.float64) - np.asarray(first, dtype=np.float64)
    if differences.ndim != 1 or len(first) != len(second):
        raise ValueError(f"paired scores needed: {len(first)} and {len(second)} values")
    if len(differences) == 0:
        raise ValueError("no queries to compare")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1 (got {confidence})")
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    # blocks of resamples bound the memory to about 8 MB whatever the number of queries
    block = max(1, 1_000_000 // len(differences))
    for start in range(0, resamples, block):
        count = min(block, resamples - start)
        picks = rng.integers(0, len(differences), size=(count, len(differences)))
        means[start : start + count] = differences[picks].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Difference(float(differences.mean()), float(low), float(high), len(differences), confidence)
