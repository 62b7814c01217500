"""wmemb's metrics agree with sentence-transformers' InformationRetrievalEvaluator on the same data."""

from __future__ import annotations

import json
import shutil

import pytest

from helpers.evaluation_sets import CHINESE, ENGLISH
from wmemb.evaluate import evaluate_models
from wmemb.models import BGE_QUERY_INSTRUCTIONS
from wmemb.records import QADataset

KS = (1, 3, 5, 10)


def reference_metrics(model_path, dataset: QADataset, query_prompt: str | None) -> dict[str, float]:
    """The evaluator's figures under wmemb's metric names."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    evaluator = InformationRetrievalEvaluator(
        dataset.queries,
        dataset.corpus,
        {qid: set(docs) for qid, docs in dataset.relevant_docs.items()},
        accuracy_at_k=list(KS),
        precision_recall_at_k=list(KS),
        query_prompt=query_prompt,
        batch_size=32,
        write_csv=False,
    )
    found = evaluator(SentenceTransformer(str(model_path)))
    renamed = {f"hit_rate@{k}": found[f"cosine_accuracy@{k}"] for k in KS}
    renamed |= {f"recall@{k}": found[f"cosine_recall@{k}"] for k in KS}
    renamed |= {name: found[f"cosine_{name}"] for name in ("mrr@10", "ndcg@10", "map@100")}
    return renamed


@pytest.mark.slow
def test_english_metrics_on_minilm_match_the_evaluator(tmp_path, minilm):
    path = tmp_path / "en_val_dataset.json"
    ENGLISH.save(path)
    result = evaluate_models(["minilm"], path, ks=KS, show_progress=False)

    scores = result.scores("minilm")
    assert scores.query_prompt is None  # MiniLM was trained without a query instruction
    assert scores.metrics == pytest.approx(reference_metrics(minilm, ENGLISH, None), abs=1e-6)
    assert scores.metrics["recall@1"] < 1.0  # two queries have two relevant passages each
    assert scores.encoded_texts == len(ENGLISH.queries) + len(ENGLISH.corpus)


def copy_with_prompts(model, folder, prompts: dict | None):
    """A copy of `model` whose config_sentence_transformers.json has `prompts` (None: no such key)."""
    shutil.copytree(model, folder)
    config_path = folder / "config_sentence_transformers.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config.pop("prompts")
    if prompts is not None:
        config["prompts"] = prompts
    config_path.write_text(json.dumps(config), encoding="utf-8")
    return folder


def test_chinese_metrics_match_and_each_model_gets_its_own_query_instruction(tmp_path, tiny_bert):
    # Like a hub download of bge-small-zh-v1.5 (no prompts saved), and a model that saved its own.
    bge_named = copy_with_prompts(tiny_bert, tmp_path / "bge-small-zh-tiny", None)
    own_prompt = copy_with_prompts(tiny_bert, tmp_path / "tuned", {"query": "问题：", "document": ""})
    path = tmp_path / "zh_val_dataset.json"
    CHINESE.save(path)
    labels = [str(tiny_bert), str(bge_named), str(own_prompt)]
    result = evaluate_models(labels, path, ks=KS, batch_size=4, show_progress=False)

    assert [m.label for m in result.models] == labels
    assert [m.query_prompt for m in result.models] == [None, BGE_QUERY_INSTRUCTIONS["zh"], "问题："]
    for scores in result.models:
        assert scores.metrics == pytest.approx(reference_metrics(scores.path, CHINESE, scores.query_prompt), abs=1e-6)
    # The instruction changes the query embeddings of the same weights, hence the ranking.
    assert result.models[0].metrics != result.models[1].metrics
