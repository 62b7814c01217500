"""Contrastive fine-tuning (`finetune`), hard-negative mining (`mine`) and base-model merging."""

from wmemb.train.finetune import EpochMetrics, FinetuneOptions, FinetuneSummary, finetune
from wmemb.train.mine import MineOptions, MineSummary, mine

__all__ = ["EpochMetrics", "FinetuneOptions", "FinetuneSummary", "finetune", "MineOptions", "MineSummary", "mine"]
