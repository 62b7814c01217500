"""What a fine-tuning run produced (per-epoch metrics, the summary in finetune_metrics.json).

Its own module so that the model card and the run report read it without the trainer."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from wmemb.jsonable import JsonRecord

METRICS_FILE = "finetune_metrics.json"


@dataclass
class EpochMetrics(JsonRecord):
    epoch: int  # 0 is the model before training
    train_loss: float | None
    metrics: dict[str, float]  # ndcg@10, mrr@10, recall@k, hit_rate@k, ... on the validation set


@dataclass
class FinetuneSummary(JsonRecord):
    output_path: Path
    base_model: str
    train_pairs: int
    val_queries: int
    val_corpus: int
    best_epoch: int | None  # None without validation data (the last epoch is saved)
    epochs: list[EpochMetrics] = field(default_factory=list)  # epoch 0 = before training
    merged_metrics: dict[str, float] | None = None
    settings: dict = field(default_factory=dict)  # the resolved hyper-parameters
    train_samples_per_second: float = 0.0
    resumed_from: str | None = None
    wrote_output: bool = False  # False in the non-main processes of a torchrun job

    @property
    def best_metrics(self) -> dict[str, float] | None:
        return next((e.metrics for e in self.epochs if e.epoch == self.best_epoch), None)
