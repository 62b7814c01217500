"""`prepare --max-train-passages/--max-val-passages`: questions for a seeded sample, every passage in the corpus."""

from __future__ import annotations

import json
import logging

import pytest

from helpers.openai_server import openai_server
from helpers.prepare_inputs import EN_PASSAGES, ZH_PASSAGES, fast_options, make_nodes, write_node_files
from wmemb.errors import WMEmbError
from wmemb.generate import prepare_datasets
from wmemb.records import QADataset, seeded_sample


def test_asks_about_the_sample_and_keeps_every_passage_as_a_distractor(tmp_path):
    train_texts, val_texts = EN_PASSAGES[:4] + ZH_PASSAGES[:2], EN_PASSAGES[4:] + ZH_PASSAGES[2:]
    train, val = write_node_files(tmp_path / "nodes", train_texts, val_texts)
    caps = {"max_train_passages": 3, "max_val_passages": 1, "seed": 7}
    with openai_server() as server:
        summary = prepare_datasets(train, val, tmp_path / "out", fast_options(server, **caps))
        asked = [request.prompt for request in server.chat_requests()]
    assert len(asked) == 3 + 1
    expected = seeded_sample(make_nodes(train_texts), 3, 7 + 1) + seeded_sample(make_nodes(val_texts), 1, 7 + 1)
    assert sorted(asked) == sorted(next(p for p in asked if node.text in p) for node in expected)
    assert (summary.train.passages, summary.train.corpus_passages) == (3, 6)
    assert (summary.val.passages, summary.val.corpus_passages) == (1, 3)
    assert summary.train.passages_with_queries == 3 and summary.val.passages_with_queries == 1
    for split, texts, sample in (("train", train_texts, expected[:3]), ("val", val_texts, expected[3:])):
        dataset = QADataset.load(tmp_path / "out" / f"book_{split}_dataset.json")
        assert sorted(dataset.corpus.values()) == sorted(texts)  # the passages not asked about stay as distractors
        assert {docs[0] for docs in dataset.relevant_docs.values()} == {node.id for node in sample}
    saved = json.loads((tmp_path / "out" / "book_prepare_summary.json").read_text(encoding="utf-8"))
    assert saved["train"]["corpus_passages"] == 6

    with openai_server() as server:  # same sample on a rerun: every reply comes from the cache
        again = prepare_datasets(train, val, tmp_path / "out", fast_options(server, **caps))
        assert server.chat_requests() == []
    assert (again.train.reused, again.val.reused, again.train.queries) == (3, 1, summary.train.queries)


def test_a_cap_at_or_over_the_split_asks_about_every_passage_and_says_so(tmp_path, caplog):
    """A cap set for a larger corpus (one config for several books) takes all: one logged line, not an error."""
    train, val = write_node_files(tmp_path / "nodes", ZH_PASSAGES[:2], EN_PASSAGES[:1])
    caplog.set_level(logging.INFO, logger="wmemb.generate.prepare")
    with openai_server() as server:
        summary = prepare_datasets(train, val, tmp_path / "out", fast_options(server, max_train_passages=5))
    assert (summary.train.passages, summary.train.corpus_passages, summary.val.passages) == (2, 2, 1)
    assert f"{train}: max_train_passages 5 >= its 2 passages: asking about all" in caplog.messages


@pytest.mark.parametrize("field", ["max_train_passages", "max_val_passages"])
def test_a_cap_under_one_is_refused_before_anything_is_asked(tmp_path, field):
    train, val = write_node_files(tmp_path / "nodes", EN_PASSAGES[:2], EN_PASSAGES[2:3])
    with openai_server() as server:
        with pytest.raises(WMEmbError, match=f"--{field.replace('_', '-')} 0: must be at least 1"):
            prepare_datasets(train, val, tmp_path / "out", fast_options(server, **{field: 0}))
        assert server.chat_requests() == []
    assert not (tmp_path / "out").exists()
