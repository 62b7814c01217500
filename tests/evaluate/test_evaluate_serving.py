"""Serving figures: a model trained with matryoshka_dims scored at each vector size (as sentence-transformers'
`truncate_dim` serves it), `wmemb evaluate --dims/--throughput`, and what to serve said in one sentence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.evaluation_sets import ENGLISH
from helpers.serve_extra import needs_onnx
from helpers.train_samples import qa_dataset, write_json
from wmemb.errors import WMEmbError
from wmemb.evaluate import EvaluationResult, evaluate_models
from wmemb.evaluate.results import ModelScores
from wmemb.evaluate.serving import ThroughputResult, VariantScores, size_rows
from wmemb.train import FinetuneOptions, finetune


@pytest.fixture(scope="module")
def matryoshka(tiny_bert, tmp_path_factory) -> tuple[Path, Path]:
    """The tiny BERT (32 dimensions) trained with matryoshka_dims [8, 16], and its validation set."""
    root = tmp_path_factory.mktemp("matryoshka")
    train = write_json(root / "t_train_dataset.json", qa_dataset(0, 32, questions_per_passage=2))
    val = write_json(root / "t_val_dataset.json", qa_dataset(100, 16))
    options = FinetuneOptions(epochs=2, lr=2e-4, batch_size=8, matryoshka_dims=[8, 16])
    finetune(tiny_bert, root / "model", train, val, options)
    return root / "model", val


@pytest.mark.slow
def test_each_size_scores_as_truncate_dim_serves_it(minilm, tmp_path):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    path = tmp_path / "en_val_dataset.json"
    ENGLISH.save(path)
    result = evaluate_models([minilm], path, labels=["m"], dims=[64, 128], show_progress=False)
    assert [(row.label, row.dimension) for row in [*result.models, *result.truncated]] == [
        ("m", 384),
        ("m@64", 64),
        ("m@128", 128),
    ]
    for row in [*result.models, *result.truncated]:
        evaluator = InformationRetrievalEvaluator(
            ENGLISH.queries,
            ENGLISH.corpus,
            {q: set(d) for q, d in ENGLISH.relevant_docs.items()},
            name="x",
            write_csv=False,
        )
        served = SentenceTransformer(str(minilm), device="cpu", truncate_dim=row.dimension)
        assert row.metrics["ndcg@10"] == pytest.approx(evaluator(served)["x_cosine_ndcg@10"], abs=1e-6), row.label
    plain = evaluate_models([minilm], path, labels=["m"], show_progress=False)
    assert plain.models[0].metrics == result.models[0].metrics and plain.truncated == []


@pytest.mark.slow
def test_a_model_trained_with_matryoshka_dims_is_scored_at_each_size(matryoshka):
    model, val = matryoshka
    result = evaluate_models([model], val, labels=["m"], dims=[8, 16], show_progress=False)
    assert [(row.label, row.dimension) for row in result.truncated] == [("m@8", 8), ("m@16", 16)]
    assert len({row.metrics["ndcg@10"] for row in [*result.models, *result.truncated]}) == 3  # the sizes differ
    back = EvaluationResult.from_json(json.loads(json.dumps(result.to_json())))
    assert [(row.label, row.dimension) for row in back.truncated] == [("m@8", 8), ("m@16", 16)]
    rows = size_rows(result)
    assert [row[:2] for row in rows] == [["m", "32 (full)"], ["m", "16"], ["m", "8"]] and rows[2][4] == "32"


@pytest.mark.parametrize(
    ("dims", "message"),
    [
        ([64], "--dims 64: 64 is more than the model's 32 dimensions"),
        ([0], "--dims 0: 0 is no vector size"),
        ([8, 8], "--dims 8,8: 8 is given twice"),
    ],
)
def test_bad_sizes_are_refused(tiny_bert, tmp_path, dims, message):
    val = write_json(tmp_path / "v.json", qa_dataset(0, 4))
    with pytest.raises(WMEmbError, match=message):
        evaluate_models([tiny_bert], val, dims=dims, out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_the_cli_prints_ndcg_per_size_and_keeps_it_in_metrics_json(matryoshka, tmp_path, run):
    model, val = matryoshka
    code, err = run(
        "-q", "evaluate", "--model", str(model), "--dataset", str(val), "--dims", "8,16", "-o", str(tmp_path)
    )
    assert code == 0, err
    assert "NDCG@10 against vector size" in err and "32 (full)" in err
    saved = json.loads((tmp_path / "metrics.json").read_text(encoding="utf-8"))
    assert [row["dimension"] for row in saved["truncated"]] == [8, 16]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--dims", "8,x"], "error: --dims 8,x: sizes must be whole numbers such as 64,128"),
        (["--dims", "64"], "error: --dims 64: 64 is more than the model's 32 dimensions"),
        (["--dims", "-8"], "error: --dims -8: -8 is no vector size; each must be at least 1"),
        (["--throughput"], None),
    ],
)
def test_bad_flags_are_one_line_and_write_nothing(tiny_bert, tmp_path, run, flags, message):
    val = write_json(tmp_path / "v.json", qa_dataset(0, 4))
    models = ["--model", str(tiny_bert)] if message else ["--baseline", "bm25"]
    code, err = run("-q", "evaluate", *models, "--dataset", str(val), "-o", str(tmp_path / "out"), *flags)
    lines = [line for line in err.splitlines() if line.strip() and "Loading weights" not in line]  # a progress bar
    expected = message or "error: --throughput needs a model to export and time; pass --model"
    assert code == 2 and lines == [expected], err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
@needs_onnx
def test_throughput_compares_torch_onnx_and_int8_and_says_what_to_serve(matryoshka, run):
    model, val = matryoshka
    code, err = run("-q", "evaluate", "--model", str(model), "--dataset", str(val), "--throughput")
    assert code == 0, err
    for variant in ("torch", "onnx", "onnx-int8"):
        assert f"│ {variant} " in err
    assert "Serve " in err and "load average" in err


def _variant(name: str, speed: float, ndcg: float) -> VariantScores:
    scores = ModelScores(name, f"/m/{name}", None, {"ndcg@10": ndcg}, 10, 1.0, 0.1)
    return VariantScores(name, scores, speed, 1_000_000, 0.0)


@pytest.mark.parametrize(
    ("variants", "sentence"),
    [
        (
            [("torch", 10, 0.80), ("onnx", 11, 0.80), ("onnx-int8", 25, 0.795)],
            "Serve onnx-int8: 2.5x the texts/s of torch on this CPU, NDCG@10 -0.0050 "
            "(`wmemb export MODEL OUT --format onnx --quantize int8`).",
        ),
        (
            [("torch", 10, 0.80), ("onnx", 11, 0.80), ("onnx-int8", 25, 0.75)],
            "Serve onnx: 1.1x the texts/s of torch on this CPU, NDCG@10 +0.0000; onnx-int8 is faster (25.0 texts/s) "
            "but loses 0.050 (`wmemb export MODEL OUT --format onnx`).",
        ),
        (
            [("torch", 10, 0.80), ("onnx", 9, 0.80)],
            "Serve torch: no export encodes faster on this CPU while losing at most 0.01 NDCG@10.",
        ),
    ],
)
def test_the_recommendation_is_the_fastest_variant_within_the_tolerance(variants, sentence):
    result = ThroughputResult("m", "d", [_variant(*v) for v in variants], 10, 3, 32, 2, (1.0, 1.0, 1.0))
    assert result.recommendation() == sentence
    assert json.loads(json.dumps(result.to_json()))["recommendation"] == sentence
