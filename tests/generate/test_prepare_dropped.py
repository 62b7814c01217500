"""What `prepare` drops is written down: `<stem>_<split>_dropped.jsonl` and per-language counts."""

from __future__ import annotations

import json
from collections import Counter

from helpers.openai_server import openai_server
from helpers.prepare_inputs import EN_PASSAGES, ZH_PASSAGES, fast_options, write_node_files
from wmemb.generate import prepare_datasets
from wmemb.records import QADataset


def messy_reply(prompt: str) -> str:
    if "材料：" in prompt:
        head = prompt.split("材料：\n", 1)[1][:6]
        return f"以下是两个问题：\n问题1：{head}指的是什么？\n答：见材料。\n---\n这是一个陈述句。"
    head = " ".join(prompt.split("Context:\n", 1)[1].split()[:4])
    return (
        f"Here are two questions:\n1. What does the text say about {head}?\nAnswer: it explains it.\n"
        f"2. what does the text say about {head} ?\n3. Why does {head} matter?\n4. Which part of {head} is new?"
    )


def test_dropped_lines_and_per_language_counts(tmp_path):
    train, val = write_node_files(tmp_path / "nodes", EN_PASSAGES[:2] + ZH_PASSAGES[:1], EN_PASSAGES[2:3])
    out = tmp_path / "out"
    with openai_server(reply=messy_reply) as server:
        summary = prepare_datasets(train, val, out, fast_options(server))

    lines = [json.loads(line) for line in (out / "book_train_dropped.jsonl").read_text(encoding="utf-8").splitlines()]
    assert all(set(line) == {"node_id", "language", "style", "query", "reason"} for line in lines)
    dataset = QADataset.load(out / "book_train_dataset.json")
    en_id, zh_id = next(iter(dataset.corpus)), list(dataset.corpus)[2]
    assert [(d["query"], d["reason"]) for d in lines if d["node_id"] == en_id] == [
        ("Here are two questions:", "preamble"),
        ("Answer: it explains it.", "answer"),
        ("what does the text say about The apt tool installs ?", "duplicate"),
        ("Which part of The apt tool installs is new?", "extra"),
    ]
    assert [(d["query"], d["reason"], d["language"]) for d in lines if d["node_id"] == zh_id] == [
        ("以下是两个问题：", "preamble", "zh"),
        ("答：见材料。", "answer", "zh"),
        ("---", "markup", "zh"),
        ("这是一个陈述句。", "not_question", "zh"),
    ]
    assert summary.train.dropped == dict(Counter(d["reason"] for d in lines))
    assert summary.train.by_language == {
        "en": {
            "passages": 2,
            "failed": 0,
            "queries": 4,
            "dropped": {"preamble": 2, "answer": 2, "duplicate": 2, "extra": 2},
        },
        "zh": {
            "passages": 1,
            "failed": 0,
            "queries": 1,
            "dropped": {"preamble": 1, "answer": 1, "markup": 1, "not_question": 1},
        },
    }
    assert summary.train.dropped_path == str(out / "book_train_dropped.jsonl")
    assert summary.val.by_language["en"]["queries"] == 2 and (out / "book_val_dropped.jsonl").is_file()
    on_disk = json.loads((out / "book_prepare_summary.json").read_text(encoding="utf-8"))
    assert on_disk["train"]["by_language"] == summary.train.by_language
