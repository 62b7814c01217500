"""Datasets written by `prepare` load with llama_index's own loader, and llama_index's files import."""

from __future__ import annotations

import warnings

from helpers.openai_server import openai_server
from helpers.prepare_inputs import fast_options
from wmemb.generate import import_llama_index_dataset, prepare_datasets
from wmemb.records import QADataset


def llama_index_dataset_class():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from llama_index.core.evaluation import EmbeddingQAFinetuneDataset  # llama-index-core < 0.14
    return EmbeddingQAFinetuneDataset


def test_prepared_dataset_loads_with_llama_index(node_files, tmp_path):
    train, val = node_files
    with openai_server() as server:
        prepare_datasets(train, val, tmp_path / "out", fast_options(server))
    for split in ("train", "val"):
        path = tmp_path / "out" / f"book_{split}_dataset.json"
        theirs = llama_index_dataset_class().from_json(str(path))
        ours = QADataset.load(path)
        assert (
            theirs.queries == ours.queries
            and theirs.corpus == ours.corpus
            and theirs.relevant_docs == ours.relevant_docs
        )
        assert theirs.mode == "text" and any("？" in q for q in theirs.queries.values())
        assert all(docs[0] in theirs.corpus for _, docs in theirs.query_docid_pairs)


def test_import_a_dataset_llama_index_wrote(tmp_path):
    theirs = llama_index_dataset_class()(
        queries={"0b1c": "革兰氏阳性菌的细胞壁由什么构成？", "7f2e": "What does apt install?"},
        corpus={
            "node-1": "革兰氏阳性菌的细胞壁较厚，主要由肽聚糖构成。",
            "node-2": "The apt tool installs Debian packages.",
        },
        relevant_docs={"0b1c": ["node-1"], "7f2e": ["node-2"]},
    )
    source = tmp_path / "llama_index_train_dataset.json"
    theirs.save_json(str(source))
    assert "\\u" in source.read_text(encoding="utf-8")  # llama_index escapes Chinese

    from typer.testing import CliRunner

    from wmemb.cli import app

    result = CliRunner().invoke(app, ["import-dataset", str(source), "-o", str(tmp_path / "book_train_dataset.json")])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "book_train_dataset.json").read_text(encoding="utf-8")
    assert "革兰氏阳性菌的细胞壁由什么构成？" in text and "\\u" not in text
    imported = QADataset.load(tmp_path / "book_train_dataset.json")
    assert (imported.queries, imported.corpus, imported.relevant_docs) == (
        theirs.queries,
        theirs.corpus,
        theirs.relevant_docs,
    )
    assert import_llama_index_dataset(source, tmp_path / "again.json").queries == theirs.queries
