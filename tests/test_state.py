"""Each stage's summary read back typed from state.json, and the run's file names, built in one place."""

from __future__ import annotations

import json

import pytest

from wmemb.errors import WMEmbError
from wmemb.files import RunNames
from wmemb.state import ExpandStageSummary, StageSummaries
from wmemb.train.summary import EpochMetrics, FinetuneSummary


def test_run_names_are_the_files_on_disk():
    names = RunNames("微生物")
    assert [names.nodes("train"), names.nodes("val"), names.split_summary()] == [
        "微生物_train_nodes.jsonl",
        "微生物_val_nodes.jsonl",
        "微生物_split_summary.json",
    ]
    assert [names.dataset("val"), names.replies("train"), names.dropped("val"), names.mined()] == [
        "微生物_val_dataset.json",
        "微生物_train_replies.jsonl",
        "微生物_val_dropped.jsonl",
        "微生物_train_mined.jsonl",
    ]
    assert [names.prepare_summary(), names.prepare_failures()] == [
        "微生物_prepare_summary.json",
        "微生物_prepare_failures.jsonl",
    ]
    assert RunNames.of_nodes("data/book_val_nodes.jsonl") == RunNames("book")
    assert RunNames.of_nodes("passages.jsonl") == RunNames("passages")  # not split's name: the stem


def test_summaries_read_back_typed_and_write_the_same_json(tmp_path):
    finetune = FinetuneSummary(
        output_path=tmp_path / "model",
        base_model="minilm",
        train_pairs=12,
        val_queries=3,
        val_corpus=4,
        best_epoch=1,
        epochs=[EpochMetrics(0, None, {"ndcg@10": 0.5}), EpochMetrics(1, 0.25, {"ndcg@10": 0.75})],
        settings={"epochs": 1, "matryoshka_dims": (32, 16)},
    )
    state = {
        "finetune": {"key": "a", "summary": finetune.to_json(), "outputs": {}},
        "expand": {"key": "b", "summary": ExpandStageSummary().to_json(), "outputs": {}},
        "prepare": {"key": "c"},  # interrupted: no summary yet
    }
    path = tmp_path / "state.json"
    path.write_text(json.dumps(state), encoding="utf-8")
    summaries = StageSummaries(path)
    read = summaries.finetune()
    assert read is not None and read.output_path == finetune.output_path and read.epochs[1].train_loss == 0.25
    assert read.best_metrics == {"ndcg@10": 0.75} and read.to_json() == json.loads(json.dumps(finetune.to_json()))
    expand = summaries.expand()
    assert expand is not None and expand.no_terms and expand.to_json() == {"no_terms": True}
    assert summaries.prepare() is None and summaries.split() is None


def test_a_renamed_field_fails_where_it_is_read(tmp_path):
    path = tmp_path / "state.json"
    summary = {"queries": 3, "corpus": 4, "backend": "exact", "window": [10, 20], "negatives_per_query": 7}
    path.write_text(json.dumps({"mine": {"key": "k", "summary": summary, "outputs": {}}}), encoding="utf-8")
    with pytest.raises(WMEmbError, match=r"the mine stage's summary .*missing output_path.*wmemb run --from mine"):
        StageSummaries(path).mine()
