"""wmemb's metrics agree with sentence-transformers' InformationRetrievalEvaluator on the same data."""

from __future__ import annotations

import shutil

import pytest

from wmemb.evaluate import evaluate_models
from wmemb.models import BGE_QUERY_INSTRUCTIONS
from wmemb.records import QADataset

from evaluation_sets import CHINESE, ENGLISH

KS = (1, 3, 5, 10)


def reference_metrics(model_path, dataset: QADataset, query_prompt: str | None) -> dict[str, float]:
    """The evaluator's figures under wmemb's metric names."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    evaluator = InformationRetrievalEvaluator(
        dataset.queries, dataset.corpus, {qid: set(docs) for qid, docs in dataset.relevant_docs.items()},
        accuracy_at_k=list(KS), precision_recall_at_k=list(KS), query_prompt=query_prompt, batch_size=32,
        write_csv=False)
    found = evaluator(SentenceTransformer(str(model_path)))
    renamed = {f"hit_rate@{k}": found[f"cosine_accuracy@{k}"] for k in KS}
    renamed |= {f"recall@{k}": found[f"cosine_recall@{k}"] for k in KS}
    renamed |= {name: found[f"cosine_{name}"] for name in ("mrr@10", "ndcg@10", "map@100")}
    return renamed


def test_english_metrics_on_minilm_match_the_evaluator(tmp_path, minilm):
    path = tmp_path / "en_val_dataset.json"
    ENGLISH.save(path)
    result = evaluate_models(["minilm"], path, ks=KS, show_progress=False)

    scores = result.scores("minilm")
    assert scores.query_prompt is None  # MiniLM was trained without a query instruction
    assert scores.metrics == pytest.approx(reference_metrics(minilm, ENGLISH, None), abs=1e-6)
    assert scores.metrics["recall@1"] < 1.0  # two queries have two relevant passages each
    assert scores.encoded_texts == len(ENGLISH.queries) + len(ENGLISH.corpus)


def test_chinese_metrics_match_and_each_model_gets_its_own_query_instruction(tmp_path, tiny_bert):
    bge_named = shutil.copytree(tiny_bert, tmp_path / "bge-small-zh-tiny")
    path = tmp_path / "zh_val_dataset.json"
    CHINESE.save(path)
    result = evaluate_models([str(tiny_bert), str(bge_named)], path, ks=KS, batch_size=4, show_progress=False)

    plain, bge = result.scores(str(tiny_bert)), result.scores(str(bge_named))
    assert plain.query_prompt is None
    assert bge.query_prompt == BGE_QUERY_INSTRUCTIONS["zh"]
    assert plain.metrics == pytest.approx(reference_metrics(tiny_bert, CHINESE, None), abs=1e-6)
    assert bge.metrics == pytest.approx(reference_metrics(bge_named, CHINESE, bge.query_prompt), abs=1e-6)
    assert [m.label for m in result.models] == [str(tiny_bert), str(bge_named)]
