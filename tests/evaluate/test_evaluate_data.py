"""Loading evaluation data: llama_index JSON and BEIR folders, and the errors for bad ones."""

from __future__ import annotations

import json

import pytest

from helpers.evaluation_sets import CHINESE, ENGLISH, write_beir
from wmemb.errors import WMEmbError
from wmemb.evaluate import load_eval_data


@pytest.mark.parametrize("dataset", [ENGLISH, CHINESE], ids=["en", "zh"])
def test_llama_index_json_written_by_llama_index_loads(tmp_path, dataset):
    from llama_index.core.evaluation import EmbeddingQAFinetuneDataset

    path = tmp_path / "val_dataset.json"
    EmbeddingQAFinetuneDataset(
        queries=dataset.queries, corpus=dataset.corpus, relevant_docs=dataset.relevant_docs
    ).save_json(str(path))
    if dataset is CHINESE:
        assert "\\u" in path.read_text(encoding="utf-8")  # llama_index escapes non-ASCII

    data = load_eval_data(path)
    assert data.name == "val_dataset"
    assert data.queries == dataset.queries and data.corpus == dataset.corpus
    assert data.relevant_docs == dataset.relevant_docs


@pytest.mark.parametrize("dataset", [ENGLISH, CHINESE], ids=["en", "zh"])
def test_beir_folder_joins_title_and_text_and_keeps_only_judged_queries(tmp_path, dataset):
    first_query = next(iter(dataset.queries))
    folder = write_beir(
        tmp_path / "beir",
        dataset,
        extra_queries={"train-only": "a query of another split"},
        irrelevant_rows=[(first_query, next(iter(dataset.corpus)))],
    )

    data = load_eval_data(folder)
    assert data.name == "beir/test"
    assert data.queries == dataset.queries  # "train-only" has no qrels row in test.tsv
    assert data.corpus == dataset.corpus  # title + " " + text gives back the passage
    assert data.relevant_docs == dataset.relevant_docs  # the score-0 row is not relevant


def test_beir_split_option_picks_the_qrels_file(tmp_path):
    folder = write_beir(tmp_path / "beir", ENGLISH, split="dev")
    assert load_eval_data(folder, split="dev").relevant_docs == ENGLISH.relevant_docs
    with pytest.raises(WMEmbError, match=r"test\.tsv: missing; choose another --split \(available splits: dev\)"):
        load_eval_data(folder)


def test_empty_evaluation_sets_are_clear_errors(tmp_path):
    empty = tmp_path / "empty_dataset.json"
    empty.write_text(json.dumps({"queries": {}, "corpus": {"d": "text"}, "relevant_docs": {}}), encoding="utf-8")
    with pytest.raises(WMEmbError, match=r"empty_dataset\.json: the dataset has no queries"):
        load_eval_data(empty)

    only_zero = write_beir(tmp_path / "zero", ENGLISH)
    (only_zero / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq-root\tp05\t0\n", encoding="utf-8")
    with pytest.raises(WMEmbError, match=r"test\.tsv: no queries to evaluate"):
        load_eval_data(only_zero)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda f: (f / "corpus.jsonl").unlink(), r"corpus\.jsonl: missing"),
        (
            lambda f: (f / "queries.jsonl").write_text('{"_id": "q1"}\n', encoding="utf-8"),
            r"queries\.jsonl:1: each line needs",
        ),
        (
            lambda f: (f / "corpus.jsonl").write_text('{"_id": "p1", "text": "ok"}\nnot json\n', encoding="utf-8"),
            r"corpus\.jsonl:2: not valid JSON",
        ),
        (
            lambda f: (f / "qrels" / "test.tsv").write_text("q-root\tp05\t1\n", encoding="utf-8"),
            r"test\.tsv: the first line must be the header",
        ),
        (
            lambda f: (f / "qrels" / "test.tsv").write_text(
                "query-id\tcorpus-id\tscore\nq-root\tp05\thigh\n", encoding="utf-8"
            ),
            r"test\.tsv:2: expected query-id<TAB>corpus-id<TAB>numeric score",
        ),
        (
            lambda f: (f / "qrels" / "test.tsv").write_text(
                "query-id\tcorpus-id\tscore\nq-root\tp99\t1\n", encoding="utf-8"
            ),
            r"doc ids missing from corpus \(first: 'p99'\)",
        ),
    ],
    ids=["no-corpus", "query-without-text", "corrupt-line", "no-header", "bad-score", "unknown-passage"],
)
def test_bad_beir_folders_name_the_file_and_problem(tmp_path, damage, message):
    folder = write_beir(tmp_path / "beir", ENGLISH)
    damage(folder)
    with pytest.raises(WMEmbError, match=message):
        load_eval_data(folder)


def test_missing_or_wrong_kind_of_dataset(tmp_path):
    with pytest.raises(WMEmbError, match=r"nothing\.json: evaluation dataset not found"):
        load_eval_data(tmp_path / "nothing.json")
    nodes = tmp_path / "book_val_nodes.jsonl"
    nodes.write_text('{"id": "a", "text": "b"}\n', encoding="utf-8")
    with pytest.raises(WMEmbError, match=r"book_val_nodes\.jsonl:1: this is a node file from `wmemb split`"):
        load_eval_data(nodes)
