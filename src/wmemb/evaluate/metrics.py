"""Retrieval metrics from an exact nearest-neighbour ranking.

Definitions follow sentence-transformers' InformationRetrievalEvaluator (binary relevance), so the
figures are comparable with what `finetune` logs during training:

- hit_rate@k: share of queries with at least one relevant passage in the top k (its accuracy@k);
- recall@k: relevant passages in the top k / relevant passages, averaged over queries;
- mrr@10: 1 / rank of the first relevant passage within the top 10, else 0;
- ndcg@10: DCG of the top 10 (gain 1, discount log2(rank + 1)) / the best possible DCG;
- map@100: sum of precision at each relevant rank within the top 100 / min(100, relevant passages).

Ties in score rank the lower corpus index first; with the corpus ordered by id this is the
evaluator's (-score, corpus_id) order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # annotations only: metric names and averages need no torch
    import torch

from wmemb.errors import WMEmbError
from wmemb.search import SCORE_BUDGET

MRR_AT = 10
NDCG_AT = 10
MAP_AT = 100


def check_ks(ks: Sequence[int | str]) -> tuple[int, ...]:
    """The cut-offs for hit rate and recall, sorted and unique; each must be a positive integer."""
    try:
        values = sorted({int(k) for k in ks})
    except (TypeError, ValueError):
        raise WMEmbError(f"--k {','.join(map(str, ks))}: cut-offs must be whole numbers such as 1,3,5,10") from None
    if not values or values[0] < 1:
        raise WMEmbError(f"--k {','.join(map(str, ks))}: give at least one cut-off, each 1 or more")
    return tuple(values)


def metric_names(ks: Sequence[int]) -> list[str]:
    """Metric names in report order."""
    return (
        [f"hit_rate@{k}" for k in ks]
        + [f"mrr@{MRR_AT}", f"ndcg@{NDCG_AT}"]
        + [f"recall@{k}" for k in ks]
        + [f"map@{MAP_AT}"]
    )


def search_depth(ks: Sequence[int], corpus_size: int) -> int:
    """How many passages to rank per query so that every metric is exact."""
    return min(max(*ks, MRR_AT, NDCG_AT, MAP_AT), corpus_size)


def rank_corpus(
    query_embeddings: torch.Tensor,
    corpus_embeddings: torch.Tensor,
    depth: int,
    similarity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    score_budget: int = SCORE_BUDGET,
) -> np.ndarray:
    """Indices of the `depth` best passages per query, best first, by exact search.

    Queries go in blocks so that at most `score_budget` scores exist at once, whatever the corpus
    size. Equal scores rank the lower passage index first.
    """
    rows_per_block = max(1, score_budget // max(1, len(corpus_embeddings)))
    blocks = [
        rank_scores(similarity(query_embeddings[start : start + rows_per_block], corpus_embeddings), depth)
        for start in range(0, len(query_embeddings), rows_per_block)
    ]
    return np.concatenate(blocks) if blocks else np.zeros((0, depth), dtype=np.int64)


def rank_scores(scores: torch.Tensor, depth: int) -> np.ndarray:
    """Indices of the `depth` highest scores of each row, best first; equal scores rank the lower index first."""
    values, indices = scores.topk(depth, dim=1)
    # topk orders equal scores arbitrarily: put each row's candidates in index order, then
    # sort them stably by score.
    indices = indices.sort(dim=1).values
    order = scores.gather(1, indices).sort(dim=1, descending=True, stable=True).indices
    indices = indices.gather(1, order)
    # A tie across the cut-off may have left out a lower index: rank those rows in full.
    boundary = (scores >= values[:, -1:]).sum(dim=1) > depth
    if boundary.any():
        indices[boundary] = scores[boundary].sort(dim=1, descending=True, stable=True).indices[:, :depth]
    return indices.cpu().numpy()


def relevance_matrix(ranking: np.ndarray, relevant: Sequence[Sequence[int]], corpus_size: int) -> np.ndarray:
    """hits[q, r] is True where the passage ranked r for query q is relevant to it."""
    query_rows = np.arange(len(ranking), dtype=np.int64)[:, None]
    relevant_keys = np.array([q * corpus_size + doc for q, docs in enumerate(relevant) for doc in docs], dtype=np.int64)
    return np.isin(query_rows * corpus_size + ranking, relevant_keys)


def ndcg_per_query(hits: np.ndarray, relevant_counts: np.ndarray) -> np.ndarray:
    """NDCG@10 of each query (binary gain, discount log2(rank + 1)), from a relevance matrix."""
    hits = hits[:, :NDCG_AT].astype(np.float64)
    discount = 1.0 / np.log2(np.arange(1, hits.shape[1] + 1) + 1)
    dcg = (hits * discount).sum(axis=1)
    ideal_discount = 1.0 / np.log2(np.arange(1, NDCG_AT + 1) + 1)
    ideal = np.cumsum(ideal_discount)[np.minimum(np.asarray(relevant_counts), NDCG_AT).astype(np.int64) - 1]
    return dcg / ideal


def retrieval_metrics(hits: np.ndarray, relevant_counts: np.ndarray, ks: Sequence[int]) -> dict[str, float]:
    """All metrics of `metric_names(ks)`, averaged over queries, from a relevance matrix."""
    hits = hits.astype(np.float64)
    relevant_counts = np.asarray(relevant_counts, dtype=np.float64)
    rank = np.arange(1, hits.shape[1] + 1, dtype=np.float64)
    metrics = {f"hit_rate@{k}": hits[:, :k].any(axis=1).mean() for k in ks}
    metrics[f"mrr@{MRR_AT}"] = (hits[:, :MRR_AT] / rank[:MRR_AT]).max(axis=1, initial=0.0).mean()

    metrics[f"ndcg@{NDCG_AT}"] = ndcg_per_query(hits, relevant_counts).mean()

    metrics.update({f"recall@{k}": (hits[:, :k].sum(axis=1) / relevant_counts).mean() for k in ks})
    top = hits[:, :MAP_AT]
    precision_at_hits = np.cumsum(top, axis=1) / rank[:MAP_AT] * top
    metrics[f"map@{MAP_AT}"] = (precision_at_hits.sum(axis=1) / np.minimum(relevant_counts, MAP_AT)).mean()
    return {name: float(metrics[name]) for name in metric_names(ks)}
