"""Hard-negative mining with the packaged MiniLM on a small bilingual corpus."""

from __future__ import annotations

import importlib
import json

import pytest

from helpers.train_samples import qa_dataset, write_json
from wmemb.errors import WMEmbError
from wmemb.records import read_pairs
from wmemb.train import MineOptions, mine
from wmemb.train.mine import _clamp_window


@pytest.fixture()
def dataset_with_duplicates(tmp_path):
    """Two questions per passage, plus a second id holding the very same text as a positive."""
    data = qa_dataset(0, 30, questions_per_passage=2)
    data["corpus"]["copy-of-d4"] = data["corpus"]["d4"]
    data["queries"]["q-multi"] = "what is the spore 4 and the gram 6?"
    data["relevant_docs"]["q-multi"] = ["d4", "d6"]
    return write_json(tmp_path / "m_train_dataset.json", data), data


@pytest.mark.parametrize("use_faiss", [True, False])
def test_mined_negatives_are_never_positives(minilm, dataset_with_duplicates, tmp_path, use_faiss):
    path, data = dataset_with_duplicates
    out = tmp_path / "mined.jsonl"
    summary = mine(path, out, minilm, MineOptions(negatives=5, use_faiss=use_faiss))
    assert summary.backend == ("faiss" if use_faiss else "exact")
    records = read_pairs(out)
    assert len(records) == len(data["queries"]) == summary.queries
    for record in records:
        assert len(record.neg) == 5 and len(set(record.neg)) == 5
        assert not set(record.neg) & set(record.pos)
        assert all(n < min(record.pos_scores) for n in record.neg_scores)  # the margin keeps them below
    multi = next(r for r in records if r.query.startswith("what is the spore 4 and"))
    assert multi.pos == [data["corpus"]["d4"], data["corpus"]["d6"]]


def test_both_search_backends_rank_alike(minilm, dataset_with_duplicates, tmp_path):
    path, _ = dataset_with_duplicates
    for name, use_faiss in (("f.jsonl", True), ("e.jsonl", False)):
        mine(path, tmp_path / name, minilm, MineOptions(negatives=3, use_faiss=use_faiss, seed=1))
    faiss_lines = [json.loads(line)["neg"] for line in (tmp_path / "f.jsonl").read_text(encoding="utf-8").splitlines()]
    exact_lines = [json.loads(line)["neg"] for line in (tmp_path / "e.jsonl").read_text(encoding="utf-8").splitlines()]
    same = sum(f == e for f, e in zip(faiss_lines, exact_lines))
    assert same >= 0.9 * len(faiss_lines)  # float ties may order a few candidates differently


@pytest.mark.parametrize("use_faiss", [True, False])
def test_chunks_bounded_by_the_score_budget_mine_the_same(
    minilm, dataset_with_duplicates, tmp_path, monkeypatch, use_faiss
):
    """A corpus too large for one chunk of queries is searched a few queries at a time: same output."""
    path, data = dataset_with_duplicates
    options = MineOptions(negatives=3, use_faiss=use_faiss, seed=1)
    mine(path, tmp_path / "whole.jsonl", minilm, options)
    module = importlib.import_module("wmemb.train.mine")  # the package's `mine` is the function
    monkeypatch.setattr(module, "SCORE_BUDGET", 3 * len(data["corpus"]))  # 3 queries per chunk
    mine(path, tmp_path / "chunked.jsonl", minilm, options)
    assert (tmp_path / "chunked.jsonl").read_text(encoding="utf-8") == (tmp_path / "whole.jsonl").read_text(
        encoding="utf-8"
    )


def test_window_is_clamped_on_small_corpora():
    assert _clamp_window(10, 210, 100_000, 8) == (10, 210)
    assert _clamp_window(10, 210, 31, 8) == (10, 31)
    assert _clamp_window(10, 210, 12, 8) == (4, 12)


def test_corpus_too_small_to_mine(minilm, tmp_path):
    path = write_json(
        tmp_path / "tiny.json",
        {"queries": {"q": "什么是芽孢？"}, "corpus": {"d": "芽孢是休眠体。"}, "relevant_docs": {"q": ["d"]}},
    )
    with pytest.raises(WMEmbError, match="only 1 passages"):
        mine(path, tmp_path / "o.jsonl", minilm)
    assert not (tmp_path / "o.jsonl").exists()
