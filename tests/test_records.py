"""One reader for QA datasets in every layout, with the same checks: texts are non-empty strings, ids
are unique, references resolve. Node files get the same rules."""

from __future__ import annotations

import json

import pytest

from wmemb.errors import WMEmbError
from wmemb.records import read_nodes, read_qa_dataset

ZH_PASSAGE = "革兰氏阳性菌的细胞壁很厚。"
EN_PASSAGE = "A shell reads commands."


def write_layout(tmp_path, layout: str, query, passage) -> object:
    """One query about one passage (next to a good pair) in the given layout."""
    if layout == "llama_index":
        path = tmp_path / "v_dataset.json"
        data = {
            "queries": {"q1": query, "q2": "什么是细胞壁？"},
            "corpus": {"d1": passage, "d2": ZH_PASSAGE},
            "relevant_docs": {"q1": ["d1"], "q2": ["d2"]},
        }
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        return path
    if layout == "flagembedding":
        path = tmp_path / "pairs.jsonl"
        lines = [{"query": "什么是细胞壁？", "pos": [ZH_PASSAGE]}, {"query": query, "pos": [passage]}]
        path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
        return path
    folder = tmp_path / "beir"
    (folder / "qrels").mkdir(parents=True)
    corpus = [{"_id": "d2", "text": ZH_PASSAGE}, {"_id": "d1", "text": passage}]
    queries = [{"_id": "q2", "text": "什么是细胞壁？"}, {"_id": "q1", "text": query}]
    for name, lines in (("corpus.jsonl", corpus), ("queries.jsonl", queries)):
        (folder / name).write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n", encoding="utf-8")
    return folder


LAYOUTS = ["llama_index", "flagembedding", "beir"]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_reads_the_same_chinese_and_english_texts(tmp_path, layout):
    dataset = read_qa_dataset(write_layout(tmp_path, layout, "What is a shell?", EN_PASSAGE))
    assert sorted(dataset.queries.values()) == ["What is a shell?", "什么是细胞壁？"]
    assert sorted(dataset.corpus.values()) == [EN_PASSAGE, ZH_PASSAGE]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize(
    "query, passage, got",
    [
        (None, EN_PASSAGE, "null"),
        ("   ", EN_PASSAGE, "a blank string"),
        (123, EN_PASSAGE, "the number 123"),
        ("What is a shell?", None, "null"),
        ("What is a shell?", "", "a blank string"),
        ("What is a shell?", 4.5, "the number 4.5"),
    ],
)
def test_null_blank_and_numeric_texts_are_refused_in_every_layout(tmp_path, layout, query, passage, got):
    source = write_layout(tmp_path, layout, query, passage)
    with pytest.raises(WMEmbError) as error:
        read_qa_dataset(source)
    message = str(error.value)
    assert str(source) in message and "\n" not in message
    assert f"must be a non-empty text, got {got}" in message


def test_integer_doc_ids_of_python_written_files_are_read_as_their_keys(tmp_path):
    path = tmp_path / "d.json"
    data = {"queries": {"1": "what?"}, "corpus": {1: EN_PASSAGE, 2: ZH_PASSAGE}, "relevant_docs": {"1": [1]}}
    path.write_text(json.dumps(data), encoding="utf-8")  # json turns int keys into strings, not list items
    assert read_qa_dataset(path).relevant_docs == {"1": ["1"]}


def test_a_node_file_with_a_duplicate_id_is_refused_with_file_line_and_id(tmp_path):
    path = tmp_path / "book_train_nodes.jsonl"
    lines = [{"id": "n1", "text": ZH_PASSAGE}, {"id": "n2", "text": EN_PASSAGE}, {"id": "n1", "text": "另一段。"}]
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    with pytest.raises(WMEmbError, match=r"book_train_nodes\.jsonl:3: id 'n1' was already used on line 1"):
        read_nodes(path)


@pytest.mark.parametrize("text, got", [(None, "null"), ("  ", "a blank string"), (7, "the number 7")])
def test_a_node_without_text_is_refused(tmp_path, text, got):
    path = tmp_path / "nodes.jsonl"
    path.write_text(json.dumps({"id": "n1", "text": text}) + "\n", encoding="utf-8")
    with pytest.raises(WMEmbError, match=rf"nodes\.jsonl:1: \"text\" of node 'n1' must be a non-empty text, got {got}"):
        read_nodes(path)
