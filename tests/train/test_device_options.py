"""Options that matter on GPUs, exercised for real on the CPU: mixed precision, gradient
checkpointing, torchrun process counts.

bf16 autocast also runs on the CPU, so the GPU's default path (bf16 training, fp32 validation) is
tested here; the CUDA-only parts are in tests marked `gpu`.
"""

from __future__ import annotations

import json

import pytest

from helpers.train_samples import ndcg_of, qa_dataset, write_json
from wmemb.errors import WMEmbError
from wmemb.train import FinetuneOptions, finetune
from wmemb.train.finetune import METRICS_FILE, _check_processes_fit_gpus


@pytest.mark.slow
def test_bf16_training_records_the_fp32_scores_of_the_saved_model(tiny_bert, tmp_path):
    train = write_json(tmp_path / "t_train_dataset.json", qa_dataset(0, 32, questions_per_passage=2))
    val = write_json(tmp_path / "t_val_dataset.json", qa_dataset(100, 24))
    options = FinetuneOptions(epochs=2, lr=1e-3, batch_size=8, precision="bf16")
    summary = finetune(tiny_bert, tmp_path / "out", train, val, options)
    assert summary.settings["precision"] == "bf16"
    recorded = summary.best_metrics["ndcg@10"]
    assert recorded == pytest.approx(ndcg_of(tmp_path / "out", val, None), abs=1e-5)
    log = json.loads((tmp_path / "out" / METRICS_FILE).read_text(encoding="utf-8"))
    assert log["settings"]["precision"] == "bf16"


def test_fp16_without_a_gpu_is_a_clear_error(tiny_bert, train_val, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    train, val = train_val
    with pytest.raises(WMEmbError, match="fp16 needs a CUDA GPU"):
        finetune(tiny_bert, tmp_path / "out", train, val, FinetuneOptions(epochs=1, precision="fp16"))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("world_size, gpus, fits", [(1, 0, True), (4, 0, True), (2, 2, True), (2, 1, False)])
def test_more_torchrun_processes_than_gpus_is_refused(world_size, gpus, fits):
    if fits:
        _check_processes_fit_gpus(world_size, gpus)
    else:
        with pytest.raises(WMEmbError, match="--nproc_per_node 1"):
            _check_processes_fit_gpus(world_size, gpus)


@pytest.mark.slow
def test_gradient_checkpointing_trains_the_same_model(tiny_bert, train_val, tmp_path):
    """Checkpointing only trades memory for recomputation (the demo turns it on to fit small machines):
    dropout included, the trained weights must be those of plain training."""
    import torch
    from transformers import TrainerCallback

    seen = []

    class RecordCheckpointing(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, **kwargs):
            auto_model = model[0].auto_model  # transformers 5.2x renamed the flag
            seen.append(
                getattr(auto_model, "is_activation_checkpointing", None) or auto_model.is_gradient_checkpointing
            )

    train, val = train_val
    options = FinetuneOptions(epochs=1, lr=1e-3, batch_size=8, gradient_checkpointing=True)
    summary = finetune(tiny_bert, tmp_path / "out", train, val, options, callbacks=[RecordCheckpointing()])
    assert seen and all(seen)
    assert summary.epochs[-1].train_loss > 0 and summary.settings["gradient_checkpointing"] is True
    plain = finetune(tiny_bert, tmp_path / "plain", train, val, FinetuneOptions(epochs=1, lr=1e-3, batch_size=8))
    assert [e.train_loss for e in plain.epochs] == pytest.approx([e.train_loss for e in summary.epochs], abs=1e-6)
    checkpointed, trained = weights(tmp_path / "out"), weights(tmp_path / "plain")
    assert checkpointed.keys() == trained.keys()
    for name, tensor in checkpointed.items():
        assert torch.allclose(tensor, trained[name], atol=1e-6), name


def weights(model_dir) -> dict:
    from safetensors.torch import load_file

    return load_file(str(model_dir / "model.safetensors"))
