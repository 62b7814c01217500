"""What serving a model costs, measured on the user's own evaluation data: NDCG@10 against vector size
(embeddings cut to fewer dimensions, as Matryoshka training prepares a model for) and against encoding
speed on this CPU (torch fp32, ONNX, ONNX int8: `wmemb export`'s variants).

Speed is measured interleaved: every variant encodes the same passages once per round, round after
round, and its best round counts, so load from other processes slows all variants alike instead of
whichever happened to run while it lasted.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from wmemb.evaluate.data import EvalData, load_eval_data
from wmemb.evaluate.evaluate import evaluate_models
from wmemb.evaluate.metrics import NDCG_AT
from wmemb.evaluate.results import EvaluationResult, ModelScores
from wmemb.export import export_variants
from wmemb.models import load_sentence_model

METRIC = f"ndcg@{NDCG_AT}"
NDCG_TOLERANCE = 0.01  # an export may lose this much NDCG@10 and still be recommended
THROUGHPUT_VARIANTS = ("torch", "onnx", "onnx-int8")
TIMED_PASSAGES = 256  # passages each variant encodes per round
ROUNDS = 3


@dataclass
class VariantScores:
    """One serving variant: its retrieval scores and its encoding speed."""

    name: str  # torch, onnx, onnx-int8, ...
    scores: ModelScores
    texts_per_second: float  # best interleaved round
    model_bytes: int
    export_seconds: float

    @property
    def ndcg(self) -> float:
        return self.scores.metrics[METRIC]


@dataclass
class ThroughputResult:
    """Every variant of one model on one dataset, the first being the reference (torch fp32)."""

    model: str
    dataset: str
    variants: list[VariantScores]
    timed_texts: int
    rounds: int
    batch_size: int
    threads: int  # torch's intra-op threads (ONNX Runtime uses as many cores by default)
    load_average: tuple[float, ...]  # of the machine when the timing ended: other load skews every figure

    def recommendation(self) -> str:
        """One sentence: the fastest variant that loses at most NDCG_TOLERANCE against the reference."""
        reference = self.variants[0]
        kept = [v for v in self.variants if v.ndcg >= reference.ndcg - NDCG_TOLERANCE]
        best = max(kept, key=lambda v: v.texts_per_second)
        faster = [v for v in self.variants if v not in kept and v.texts_per_second > best.texts_per_second]
        caveat = "".join(
            f"; {v.name} is faster ({v.texts_per_second:.1f} texts/s) but loses {reference.ndcg - v.ndcg:.3f}"
            for v in faster
        )
        if best is reference:
            return (
                f"Serve {reference.name}: no export encodes faster on this CPU while losing at most "
                f"{NDCG_TOLERANCE} NDCG@10{caveat}."
            )
        return (
            f"Serve {best.name}: {best.texts_per_second / reference.texts_per_second:.1f}x the texts/s of "
            f"{reference.name} on this CPU, NDCG@10 {best.ndcg - reference.ndcg:+.4f}{caveat} "
            f"(`wmemb export MODEL OUT {export_flags(best.name)}`)."
        )

    def to_json(self) -> dict:
        return {
            **{key: value for key, value in asdict(self).items() if key != "variants"},
            "variants": [
                {
                    "name": v.name,
                    "texts_per_second": round(v.texts_per_second, 2),
                    METRIC: v.ndcg,
                    "model_bytes": v.model_bytes,
                    "export_seconds": round(v.export_seconds, 1),
                    "path": v.scores.path,
                }
                for v in self.variants
            ],
            "recommendation": self.recommendation(),
        }


def export_flags(variant: str) -> str:
    """`wmemb export`'s flags for a variant name: onnx-int8 -> --format onnx --quantize int8."""
    fmt, _, quantize = variant.partition("-")
    return f"--format {fmt}" + (f" --quantize {quantize}" if quantize else "")


def throughput_check(
    model: str | os.PathLike,
    data: EvalData | str | os.PathLike,
    variants: Sequence[str] = THROUGHPUT_VARIANTS,
    batch_size: int = 32,
    rounds: int = ROUNDS,
    timed_passages: int = TIMED_PASSAGES,
    split: str = "test",
) -> ThroughputResult:
    """Export `model` as each variant (into a temporary folder), score every variant on `data` and time their
    encoding of the same passages, interleaved (see the module's note)."""
    if not isinstance(data, EvalData):
        data = load_eval_data(data, split=split)
    texts = list(data.corpus.values())[:timed_passages]
    with tempfile.TemporaryDirectory(prefix="wmemb-throughput-") as tmp:
        exported = export_variants(model, list(variants), tmp)
        folders = [str(variant.folder) for variant in exported]
        scores = evaluate_models(folders, data, batch_size=batch_size, show_progress=False, labels=list(variants))
        speeds = measure_speed(folders, texts, batch_size, rounds)
    return ThroughputResult(
        model=str(model),
        dataset=data.name,
        variants=[
            VariantScores(variant.name, score, speed, variant.model_bytes, variant.export_seconds)
            for variant, score, speed in zip(exported, scores.models, speeds)
        ],
        timed_texts=len(texts),
        rounds=rounds,
        batch_size=batch_size,
        threads=torch.get_num_threads(),
        load_average=tuple(round(value, 2) for value in os.getloadavg()),
    )


def measure_speed(folders: Sequence[str | os.PathLike], texts: list[str], batch_size: int, rounds: int) -> list[float]:
    """Texts per second each model encodes `texts` at, in its best of `rounds` interleaved rounds (after one
    warm-up batch each)."""
    models = [load_sentence_model(folder, device="cpu").model for folder in folders]
    for model in models:
        model.encode_document(texts[:batch_size], batch_size=batch_size)
    seconds: list[list[float]] = [[] for _ in models]
    for _ in range(rounds):
        for model, timings in zip(models, seconds):
            started = time.perf_counter()
            model.encode_document(texts, batch_size=batch_size)
            timings.append(time.perf_counter() - started)
    return [len(texts) / min(timings) for timings in seconds]


@dataclass
class ServingResult:
    """What the pipeline's evaluate stage measured for serving, when the settings ask."""

    sizes: EvaluationResult | None = None  # the models at each matryoshka_dims size (`truncated`)
    throughput: ThroughputResult | None = None  # of the final model

    def to_json(self) -> dict:
        return {
            "sizes": self.sizes.to_json() if self.sizes else None,
            "throughput": self.throughput.to_json() if self.throughput else None,
        }


def serving_checks(sizes: EvaluationResult | None, final: str, data: Path, throughput: bool) -> ServingResult | None:
    """The pipeline's serving figures: `sizes`, its evaluation with the models cut to each matryoshka_dims size
    (None when that is off), and the final model's throughput on `data` when `throughput`; None when neither."""
    if sizes is None and not throughput:
        return None
    return ServingResult(sizes=sizes, throughput=throughput_check(final, data) if throughput else None)


def size_rows(result: EvaluationResult) -> list[list[str]]:
    """Per model and vector size, NDCG@10, its difference to the full size and the bytes a float32 vector takes."""
    rows = []
    for full in result.models:
        if full.baseline:  # BM25 and the hybrids have no vectors of their own
            continue
        cut = [row for row in result.truncated if row.label.rpartition("@")[0] == full.label]
        for row in [full, *sorted(cut, key=lambda row: -(row.dimension or 0))]:
            difference = row.metrics[METRIC] - full.metrics[METRIC]
            rows.append(
                [
                    full.label,
                    f"{row.dimension}" + (" (full)" if row is full else ""),
                    f"{row.metrics[METRIC]:.4f}",
                    "" if row is full else f"{difference:+.4f}",
                    f"{4 * (row.dimension or 0)}",
                ]
            )
    return rows


SIZE_HEADERS = ["model", "vector size", "NDCG@10", "minus full size", "bytes per vector (float32)"]
THROUGHPUT_HEADERS = ["variant", "texts/s", "x torch", "NDCG@10", "minus torch", "weights MB"]


def throughput_rows(result: ThroughputResult) -> list[list[str]]:
    reference = result.variants[0]
    return [
        [
            v.name,
            f"{v.texts_per_second:.1f}",
            f"{v.texts_per_second / reference.texts_per_second:.2f}",
            f"{v.ndcg:.4f}",
            f"{v.ndcg - reference.ndcg:+.4f}",
            f"{v.model_bytes / 1e6:.1f}",
        ]
        for v in result.variants
    ]


def timing_note(result: ThroughputResult) -> str:
    """How the speed was measured, with the machine's load (other processes slow every variant)."""
    load = " ".join(f"{value:.1f}" for value in result.load_average)
    return (
        f"texts/s: the best of {result.rounds} interleaved rounds encoding {result.timed_texts} passages "
        f"(batch {result.batch_size}) on {os.cpu_count()} CPUs, torch {result.threads} threads, load average {load}."
    )
