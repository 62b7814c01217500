"""Contrastive fine-tuning (`finetune`), hard-negative mining (`mine`) and base-model merging."""

from wmemb.train.finetune import FinetuneOptions, finetune
from wmemb.train.mine import MineOptions, MineSummary, mine
from wmemb.train.summary import EpochMetrics, FinetuneSummary

__all__ = ["EpochMetrics", "FinetuneOptions", "FinetuneSummary", "finetune", "MineOptions", "MineSummary", "mine"]
