"""Reading training/validation data of both formats, and one clear error per kind of bad input."""

from __future__ import annotations

import json

import pytest

from helpers.train_samples import qa_dataset, write_json
from wmemb.errors import WMEmbError
from wmemb.records import PairRecord, read_qa_dataset, write_pairs
from wmemb.train.data import load_training_rows


def test_every_relevant_doc_of_a_llama_index_query_is_a_positive(tmp_path):
    data = {
        "queries": {"q1": "什么是革兰氏阳性菌？", "q2": "What is a shell?"},
        "corpus": {"a": "革兰氏阳性菌的细胞壁很厚。", "b": "阳性菌染色后呈紫色。", "c": "A shell reads commands."},
        "relevant_docs": {"q1": ["a", "b"], "q2": ["c"]},
    }
    # llama_index writes ASCII escapes; they must read back as Chinese
    path = tmp_path / "d.json"
    path.write_text(json.dumps(data, ensure_ascii=True), encoding="utf-8")
    rows = load_training_rows(path)
    assert list(zip(rows.anchors, rows.positives)) == [
        ("什么是革兰氏阳性菌？", "革兰氏阳性菌的细胞壁很厚。"),
        ("什么是革兰氏阳性菌？", "阳性菌染色后呈紫色。"),
        ("What is a shell?", "A shell reads commands."),
    ]
    assert rows.negatives_per_row == 0 and rows.to_dataset().column_names == ["anchor", "positive"]


def test_flagembedding_lines_give_a_fixed_number_of_negatives(tmp_path):
    path = tmp_path / "pairs.jsonl"
    write_pairs(
        path,
        [
            PairRecord("什么是芽孢？", ["芽孢是休眠体。"], [f"负例{i}" for i in range(9)], prompt="Q: "),
            PairRecord("what is root?", ["root is the admin.", "root owns /."], ["a shell", "a file"], prompt="Q: "),
        ],
    )
    rows = load_training_rows(path)
    assert len(rows) == 3 and rows.negatives_per_row == 7 and rows.prompt == "Q: "
    assert rows.to_dataset().column_names == ["anchor", "positive"] + [f"negative_{i}" for i in range(1, 8)]
    assert set(rows.negatives[2]) <= {"a shell", "a file"}  # fewer negatives repeat, as in FlagEmbedding
    val = read_qa_dataset(path)
    assert len(val.queries) == 2 and len(val.corpus) == 14 and len(val.relevant_docs["q1"]) == 2


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "the file is empty"),
        (
            '{"queries": {"q1": "a"}, "corpus": {"d1": "x"}, "relevant_docs": {"q1": ["d9"]}}',
            "doc ids missing from corpus",
        ),
        (
            '{"queries": {"q1": "a", "q1": "b"}, "corpus": {"d1": "x"}, "relevant_docs": {"q1": ["d1"]}}',
            "id 'q1' appears twice",
        ),
        ('{"queries": {"q1": "a"},\n "corpus": {"d1": "x",}', "not valid JSON at line 2"),
        ('{"queries": {}, "corpus": {"d1": "x"}, "relevant_docs": {}}', "has no queries"),
    ],
)
def test_bad_llama_index_dataset(tmp_path, content, message):
    path = tmp_path / "bad_dataset.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(WMEmbError, match=message) as error:
        load_training_rows(path)
    assert "bad_dataset.json" in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    "lines, message",
    [
        ('{"query": "q", "pos": ["p"]}\n{oops\n', "bad.jsonl:2: not valid JSON"),
        ('{"query": "q", "pos": []}\n', 'bad.jsonl:1: field "pos"'),
        (
            '{"query": "a", "pos": ["p"], "prompt": "x"}\n{"query": "b", "pos": ["p"], "prompt": "y"}\n',
            'different "prompt"',
        ),
    ],
)
def test_bad_flagembedding_file(tmp_path, lines, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(lines, encoding="utf-8")
    with pytest.raises(WMEmbError, match=message):
        load_training_rows(path)


def test_validation_file_in_llama_index_layout(tmp_path):
    path = write_json(tmp_path / "v.json", qa_dataset(0, 4))
    val = read_qa_dataset(path)
    assert len(val.queries) == 4 and len(val.corpus) == 4
