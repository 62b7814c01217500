"""Lexical baselines: BM25 over the evaluation corpus, and hybrid retrieval that fuses it with a dense model.

A fine-tuned model that does not beat BM25 on its own domain has not learnt much (questions an LLM
wrote from a passage often reuse its words, which BM25 rewards); a hybrid that beats the model alone
shows the model still misses what exact words find.

- BM25: bm25s's Lucene variant with Lucene's defaults k1 = 1.2, b = 0.75; a passage scores, summed
  over the query's words t (a repeated word counts again):
  ln(1 + (N - df + 0.5) / (df + 0.5)) * tf / (tf + k1 * (1 - b + b * len / avg_len)).
  Words are `wmemb.text.search_words`: jieba's words for Chinese, lowercased letters and digits otherwise.
- Hybrid: reciprocal rank fusion (Cormack, Clarke and Buettcher, SIGIR 2009) with their k = 60: a
  passage scores the sum of 1 / (60 + rank) over the two rankings, each cut at its best 1000 as in
  their runs (a passage below that in one ranking gets nothing from it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from wmemb.errors import WMEmbError
from wmemb.evaluate.metrics import rank_scores
from wmemb.search import SCORE_BUDGET
from wmemb.text import search_words

if TYPE_CHECKING:  # imported when an index is built: wmemb.evaluate loads, and its tests collect, without it
    import bm25s

K1 = 1.2
B = 0.75
RRF_K = 60
FUSION_DEPTH = 1000
"""Passages of each ranking that reciprocal rank fusion sees."""


@dataclass(frozen=True)
class BM25Index:
    """BM25 over passages; scores and rankings index the passages in the order given."""

    retriever: bm25s.BM25
    size: int

    @classmethod
    def build(cls, passages: Sequence[str]) -> BM25Index:
        import bm25s

        words = [search_words(text) for text in passages]
        if not any(words):  # bm25s fails on an empty vocabulary with a bare "max() arg is an empty sequence"
            raise WMEmbError(
                "--baseline bm25: the corpus has no words to index (no passages, or only punctuation and symbols); "
                "pass a dataset whose passages have text"
            )
        retriever = bm25s.BM25(k1=K1, b=B, method="lucene")
        retriever.index(words, show_progress=False)
        return cls(retriever, len(passages))

    @property
    def description(self) -> str:
        import bm25s

        return f"bm25s {bm25s.__version__}: Lucene BM25, k1 {K1}, b {B}"

    def scores(self, query: str) -> np.ndarray:
        """The BM25 score of every passage for `query`: 0 where they share no word."""
        ids = self.retriever.get_tokens_ids(search_words(query))  # words the corpus lacks score nothing
        return self.retriever.get_scores_from_ids(ids)

    def rank(self, queries: Sequence[str], depth: int) -> np.ndarray:
        """Indices of the `depth` best passages per query, best first; equal scores rank the lower index first."""
        depth = min(depth, self.size)
        rows_per_block = max(1, SCORE_BUDGET // self.size)
        blocks = []
        for start in range(0, len(queries), rows_per_block):
            scores = np.stack([self.scores(query) for query in queries[start : start + rows_per_block]])
            blocks.append(rank_scores(torch.from_numpy(scores), depth))
        return np.concatenate(blocks) if blocks else np.zeros((0, depth), dtype=np.int64)


def reciprocal_rank_fusion(rankings: Sequence[np.ndarray], depth: int, k: int = RRF_K) -> np.ndarray:
    """Fuse rankings of the same queries (rows of passage indices, best first) into one of `depth` per query.

    A passage scores the sum of 1 / (k + rank) over the rankings it is in (rank 1 = best); equal
    scores rank the lower index first, as everywhere in evaluation.
    """
    depth = min(depth, max(ranking.shape[1] for ranking in rankings))
    fused = np.empty((len(rankings[0]), depth), dtype=np.int64)
    for row, lists in enumerate(zip(*rankings)):
        candidates, where = np.unique(np.concatenate(lists), return_inverse=True)  # ascending indices
        weights = np.concatenate([1.0 / (k + np.arange(1, len(ranked) + 1)) for ranked in lists])
        scores = np.bincount(where, weights=weights)
        fused[row] = candidates[np.argsort(-scores, kind="stable")[:depth]]
    return fused
