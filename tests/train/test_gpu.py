"""Fine-tuning paths that only exist on a CUDA GPU; skipped elsewhere (scripts/gpu-check.sh runs them)."""

from __future__ import annotations

import pytest

from helpers.train_samples import ndcg_of, qa_dataset, torchrun_finetune, write_json
from wmemb.train import FinetuneOptions, finetune

pytestmark = pytest.mark.gpu


@pytest.fixture()
def data(tmp_path):
    return (
        write_json(tmp_path / "t_train_dataset.json", qa_dataset(0, 32, questions_per_passage=2)),
        write_json(tmp_path / "t_val_dataset.json", qa_dataset(100, 24)),
    )


@pytest.mark.parametrize("precision", ["auto", "fp16"])
def test_mixed_precision_records_the_saved_models_scores(tiny_bert, data, tmp_path, precision):
    import torch

    train, val = data
    summary = finetune(
        tiny_bert, tmp_path / "out", train, val, FinetuneOptions(epochs=2, lr=1e-3, batch_size=8, precision=precision)
    )
    expected = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if precision == "auto" else precision
    assert summary.settings["precision"] == expected
    assert summary.best_metrics["ndcg@10"] == pytest.approx(ndcg_of(tmp_path / "out", val, None), abs=1e-5)


def test_gradient_checkpointing_on_the_gpu(tiny_bert, data, tmp_path):
    train, val = data
    options = FinetuneOptions(epochs=1, lr=1e-3, batch_size=8, gradient_checkpointing=True)
    summary = finetune(tiny_bert, tmp_path / "out", train, val, options)
    assert summary.epochs[-1].train_loss > 0


def test_torchrun_uses_every_gpu_or_says_why_not(tiny_bert, data, tmp_path):
    """One process per GPU runs DDP over NCCL; one process more than the GPUs is a one-line error."""
    import torch

    train, val = data
    gpus = torch.cuda.device_count()
    result = torchrun_finetune(gpus, 29519, tiny_bert, tmp_path / "ddp", train, val)
    assert result.returncode == 0, result.stderr[-3000:]
    too_many = torchrun_finetune(gpus + 1, 29519, tiny_bert, tmp_path / "too-many", train, val)
    assert too_many.returncode != 0
    assert f"has {gpus} GPU(s); pass --nproc_per_node {gpus}" in too_many.stderr
