"""Metric definitions and exact search, checked against hand-worked cases and a full sort."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from helpers.train_samples import qa_dataset, write_json
from wmemb import search
from wmemb.errors import WMEmbError
from wmemb.evaluate import evaluate_models
from wmemb.evaluate.metrics import check_ks, rank_corpus, relevance_matrix, retrieval_metrics
from wmemb.train import mine


def dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a @ b.T


def test_metrics_of_a_hand_worked_ranking():
    # Query 0: relevant passages 0 and 5, found at ranks 2 and 4. Query 1: relevant 9, not retrieved.
    ranking = np.array([[3, 0, 7, 5, 1, 2], [0, 1, 2, 3, 4, 5]])
    hits = relevance_matrix(ranking, [[0, 5], [9]], corpus_size=10)
    assert hits.tolist() == [[False, True, False, True, False, False], [False] * 6]

    metrics = retrieval_metrics(hits, np.array([2, 1]), ks=(1, 3, 5))
    ndcg_query0 = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert metrics == pytest.approx(
        {
            "hit_rate@1": 0.0,
            "hit_rate@3": 0.5,
            "hit_rate@5": 0.5,
            "mrr@10": (1 / 2) / 2,
            "ndcg@10": ndcg_query0 / 2,
            "recall@1": 0.0,
            "recall@3": (1 / 2) / 2,
            "recall@5": 1.0 / 2,
            "map@100": ((1 / 2 + 2 / 4) / 2) / 2,
        }
    )
    assert list(metrics) == [
        "hit_rate@1",
        "hit_rate@3",
        "hit_rate@5",
        "mrr@10",
        "ndcg@10",
        "recall@1",
        "recall@3",
        "recall@5",
        "map@100",
    ]


def test_equal_scores_rank_the_lower_index_first_even_across_the_cut_off():
    corpus = torch.tensor([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.6, 0.8]])
    query = torch.tensor([[1.0, 0.0]])
    assert rank_corpus(query, corpus, 2, dot).tolist() == [[1, 2]]
    assert rank_corpus(query, corpus, 6, dot).tolist() == [[1, 2, 3, 4, 5, 0]]


@pytest.mark.parametrize("score_budget", [1, 7, 1 << 24])
def test_blocked_search_equals_a_full_stable_sort(score_budget):
    generator = torch.Generator().manual_seed(0)
    # 0/1 vectors in 4 dimensions: scores are small integers, so ties are everywhere.
    corpus = torch.randint(0, 2, (50, 4), generator=generator).float()
    queries = torch.randint(0, 2, (23, 4), generator=generator).float()
    scores = dot(queries, corpus).numpy()
    for depth in (1, 5, 17, 50):
        expected = np.array([np.lexsort((np.arange(50), -row))[:depth] for row in scores])
        assert rank_corpus(queries, corpus, depth, dot, score_budget=score_budget).tolist() == expected.tolist()


def test_cut_offs_are_checked():
    assert check_ks(["10", 1, 3, 3]) == (1, 3, 10)
    with pytest.raises(WMEmbError, match="whole numbers"):
        check_ks(["1", "x"])
    with pytest.raises(WMEmbError, match="each 1 or more"):
        check_ks([0, 5])


def test_a_corpus_whose_vectors_do_not_fit_is_refused_in_one_line(tmp_path, monkeypatch, minilm):
    """Before any encoding: the message says what is needed, what is there, and which setting to change."""
    monkeypatch.setattr(search.psutil, "virtual_memory", lambda: SimpleNamespace(available=50 * 1024))
    dataset = write_json(tmp_path / "d_val_dataset.json", qa_dataset(0, 40))
    with pytest.raises(WMEmbError, match=r"^40 passages x 384 dimensions need .* GB of memory .*val_ratio"):
        evaluate_models(["minilm"], dataset, show_progress=False)
    with pytest.raises(WMEmbError, match=r"mine = false"):
        mine(dataset, tmp_path / "mined.jsonl", minilm)
    monkeypatch.setattr(search.psutil, "virtual_memory", lambda: SimpleNamespace(available=10**9))
    assert evaluate_models(["minilm"], dataset, show_progress=False)  # 40 x 384 float32 vectors fit in 1 GB
