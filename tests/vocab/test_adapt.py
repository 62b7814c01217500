"""The masked-language-model pass after expansion, and the per-term coverage count, on a tiny BERT."""

import logging

import torch
from sentence_transformers import SentenceTransformer

from wmemb.records import QADataset
from wmemb.vocab import expand_model
from wmemb.vocab.adapt import adapt_new_tokens
from wmemb.vocab.coverage import term_coverage, uncovered_summary

TEXTS = [
    "革兰氏阳性菌的细胞壁很厚。",
    "Gram-negative bacteria have an outer membrane with lipopolysaccharide.",
    "革兰氏阳性菌和 lipopolysaccharide 都在这里。",
    "这是一个没有新词的句子。",
    "This sentence has no new term.",
]
TERMS = ["革兰氏阳性菌", "lipopolysaccharide", "鞭毛马达"]


def test_adaptation_trains_the_new_rows_and_saves_a_complete_model(tiny_bert, tmp_path, caplog):
    folder = tmp_path / "expanded"
    report = expand_model(tiny_bert, folder, TERMS)
    ids = [term.token_id for term in report.added]
    before = SentenceTransformer(str(folder), device="cpu")
    rows_before = before[0].auto_model.get_input_embeddings().weight[ids].detach().clone()

    with caplog.at_level(logging.INFO, logger="wmemb"):
        summary = adapt_new_tokens(folder, TEXTS * 4, ids, epochs=2, seed=0)

    assert summary.steps == 4 and len(summary.epoch_losses) == 2 and summary.new_token_targets > 0
    assert "adaptation epoch 2/2" in caplog.text
    assert all(loss > 0 for loss in summary.head_losses)  # the fresh head had its own pass first
    after = SentenceTransformer(str(folder), device="cpu")  # reloads as a complete model
    rows_after = after[0].auto_model.get_input_embeddings().weight[ids].detach()
    occurring = [report.added[i].term in "".join(TEXTS) for i in range(len(ids))]
    assert occurring == [True, True, False]
    moved = (rows_after - rows_before).abs().sum(dim=1)
    assert bool((moved[:2] > 0).all())  # every term that occurs learnt
    assert after.tokenize(["细菌中革兰氏阳性菌"])["input_ids"].tolist()[0].count(ids[0]) == 1
    assert [type(module).__name__ for module in after] == [type(module).__name__ for module in before]
    embeddings = after.encode(TEXTS, convert_to_tensor=True)
    assert embeddings.shape == (len(TEXTS), 32) and torch.isfinite(embeddings).all()


def test_coverage_counts_questions_and_paired_passages_with_each_term(tiny_bert, tmp_path):
    folder = tmp_path / "expanded"
    report = expand_model(tiny_bert, folder, TERMS)
    dataset = QADataset(
        queries={"q1": "什么是革兰氏阳性菌？", "q2": "What is in the outer membrane?"},
        corpus={"p1": TEXTS[0], "p2": TEXTS[1], "p3": TEXTS[2]},  # p3 has no question: not a training pair
        relevant_docs={"q1": ["p1"], "q2": ["p2"]},
    )
    tokenizer = SentenceTransformer(str(folder), device="cpu").tokenizer
    coverage = term_coverage(tokenizer, {term.term: term.token_id for term in report.added}, dataset)
    assert [(item.term, item.queries, item.passages) for item in coverage] == [
        ("革兰氏阳性菌", 1, 1),
        ("lipopolysaccharide", 0, 1),
        ("鞭毛马达", 0, 0),
    ]
    assert uncovered_summary(coverage).startswith("1 of 3 added terms occur in no training question or passage")
    assert "'鞭毛马达'" in uncovered_summary(coverage)
    assert uncovered_summary(coverage[:2]) is None
