"""Real fine-tuning runs on a tiny BERT (built by the shared fixture) and the packaged MiniLM."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from transformers import TrainerCallback

from helpers.small_disk import needs_small_disk, run_wmemb_on_small_disk
from helpers.train_samples import ndcg_of, qa_dataset, torchrun_finetune, write_json
from wmemb.errors import WMEmbError
from wmemb.train import FinetuneOptions, finetune
from wmemb.train.finetune import METRICS_FILE, run_dir_for
from wmemb.train.merge import merge_with_base

ZH_INSTRUCTION = "为这个句子生成表示以用于检索相关文章："
FAST = dict(lr=1e-3, batch_size=8)  # a random tiny BERT needs a large step to learn in a few steps


@pytest.fixture(scope="module")
def trained(tiny_bert, tmp_path_factory):
    """One 3-epoch run with a Chinese query instruction, shared by the checks below."""
    root = tmp_path_factory.mktemp("ft")
    train = write_json(root / "t_train_dataset.json", qa_dataset(0, 32, questions_per_passage=2))
    val = write_json(root / "t_val_dataset.json", qa_dataset(100, 12))
    summary = finetune(
        tiny_bert, root / "out", train, val, FinetuneOptions(epochs=3, query_instruction=ZH_INSTRUCTION, **FAST)
    )
    return summary, val


@pytest.mark.slow
def test_loss_falls_and_best_epoch_is_saved(trained):
    summary, val = trained
    assert [e.epoch for e in summary.epochs] == [0, 1, 2, 3]
    assert summary.epochs[-1].train_loss < summary.epochs[1].train_loss
    trained_epochs = {e.epoch: e.metrics["ndcg@10"] for e in summary.epochs if e.epoch}
    assert summary.best_epoch == max(trained_epochs, key=trained_epochs.get)
    # The saved weights are the best epoch's: evaluating them again gives that epoch's NDCG@10.
    assert ndcg_of(summary.output_path, val, ZH_INSTRUCTION) == pytest.approx(
        trained_epochs[summary.best_epoch], abs=1e-4
    )
    log = json.loads((summary.output_path / METRICS_FILE).read_text(encoding="utf-8"))
    assert log["best_epoch"] == summary.best_epoch and len(log["epochs"]) == 4
    card = (summary.output_path / "README.md").read_text(encoding="utf-8")
    assert summary.base_model in card and "ndcg@10" in card and f"{summary.train_pairs}" in card
    assert not run_dir_for(summary.output_path).exists()  # checkpoints are cleaned up after success


@pytest.mark.slow
def test_saved_model_applies_its_query_instruction(trained):
    from sentence_transformers import SentenceTransformer

    summary, _ = trained
    model = SentenceTransformer(str(summary.output_path))
    assert model.prompts["query"] == ZH_INSTRUCTION
    assert model.max_seq_length == 128  # the model's own limit, not the short training length
    query = "什么是革兰氏阳性菌？"
    np.testing.assert_allclose(model.encode_query([query]), model.encode([ZH_INSTRUCTION + query]), atol=1e-6)
    assert not np.allclose(model.encode_query([query]), model.encode([query]), atol=1e-4)
    np.testing.assert_allclose(model.encode_document(["The spore wall."]), model.encode(["The spore wall."]), atol=1e-6)


@pytest.mark.slow
def test_merge_gives_weights_between_base_and_finetuned(trained, tiny_bert):
    from sentence_transformers import SentenceTransformer

    summary, _ = trained
    base = SentenceTransformer(str(tiny_bert), device="cpu").state_dict()
    finetuned = SentenceTransformer(str(summary.output_path), device="cpu")
    tuned = {name: tensor.clone() for name, tensor in finetuned.state_dict().items()}
    merge_with_base(finetuned, tiny_bert, 0.3)
    merged = finetuned.state_dict()
    changed = 0
    for name, tensor in merged.items():
        if tensor.is_floating_point():
            np.testing.assert_allclose(tensor.numpy(), 0.3 * base[name].numpy() + 0.7 * tuned[name].numpy(), atol=1e-6)
            changed += int(not np.allclose(base[name].numpy(), tuned[name].numpy()))
    assert changed > 10


@pytest.mark.slow
def test_merge_after_expansion_averages_the_shared_rows_and_keeps_the_added_ones(trained, tiny_bert):
    from sentence_transformers import SentenceTransformer

    summary, _ = trained
    base = SentenceTransformer(str(tiny_bert), device="cpu").state_dict()
    expanded = SentenceTransformer(str(summary.output_path), device="cpu")
    expanded.tokenizer.add_tokens(["革兰氏阳性菌", "spore-wall"])
    expanded[0].auto_model.resize_token_embeddings(len(expanded.tokenizer))
    name = next(name for name, tensor in expanded.state_dict().items() if tensor.shape[0] == len(expanded.tokenizer))
    before = expanded.state_dict()[name].clone()
    rows = base[name].shape[0]

    merge_with_base(expanded, tiny_bert, 0.5)

    after = expanded.state_dict()[name]
    np.testing.assert_allclose(after[:rows].numpy(), 0.5 * base[name].numpy() + 0.5 * before[:rows].numpy(), atol=1e-6)
    np.testing.assert_array_equal(after[rows:].numpy(), before[rows:].numpy())  # new tokens: no base value


class _InterruptAfterFirstCheckpoint(TrainerCallback):
    def on_save(self, args, state, control, **kwargs):
        raise KeyboardInterrupt("simulated crash after the first checkpoint")


@pytest.mark.slow
def test_resume_continues_from_the_last_checkpoint(tiny_bert, train_val, tmp_path):
    train, val = train_val
    output = tmp_path / "resumed"
    options = FinetuneOptions(epochs=2, **FAST)
    with pytest.raises(KeyboardInterrupt):
        finetune(tiny_bert, output, train, val, options, callbacks=[_InterruptAfterFirstCheckpoint()])
    assert not output.exists()  # nothing half-written
    checkpoints = sorted(p.name for p in run_dir_for(output).glob("checkpoint-*"))
    assert checkpoints == ["checkpoint-8"]  # 64 pairs / batch 8 = 8 steps per epoch

    options.resume = True
    summary = finetune(tiny_bert, output, train, val, options)
    assert summary.resumed_from and summary.resumed_from.endswith("checkpoint-8")
    assert [e.epoch for e in summary.epochs] == [0, 1, 2]  # epoch 1's metrics come from the checkpoint's log
    assert all("ndcg@10" in e.metrics for e in summary.epochs)
    assert (output / "model.safetensors").is_file()


class _InterruptAtSecondCheckpoint(TrainerCallback):
    def __init__(self):
        self.saves = 0

    def on_save(self, args, state, control, **kwargs):
        self.saves += 1
        if self.saves == 2:
            raise KeyboardInterrupt("simulated crash after the second checkpoint")


def _truncate_like_kill_9(checkpoint):
    """What `kill -9` during the Trainer's save leaves: the weights written, the optimizer cut short, no state."""
    (checkpoint / "trainer_state.json").unlink()
    optimizer = checkpoint / "optimizer.pt"
    optimizer.write_bytes(optimizer.read_bytes()[:100])


@pytest.mark.slow
def test_resume_skips_a_checkpoint_a_kill_cut_short(tiny_bert, train_val, tmp_path, caplog):
    train, val = train_val
    output = tmp_path / "resumed"
    options = FinetuneOptions(epochs=3, **FAST)
    with pytest.raises(KeyboardInterrupt):
        finetune(tiny_bert, output, train, val, options, callbacks=[_InterruptAtSecondCheckpoint()])
    run_dir = run_dir_for(output)
    assert sorted(p.name for p in run_dir.glob("checkpoint-*")) == ["checkpoint-16", "checkpoint-8"]
    _truncate_like_kill_9(run_dir / "checkpoint-16")

    options.resume = True
    summary = finetune(tiny_bert, output, train, val, options)
    assert summary.resumed_from and summary.resumed_from.endswith("checkpoint-8")
    assert "checkpoint-16: an interrupted save left this checkpoint incomplete" in caplog.text
    assert [e.epoch for e in summary.epochs] == [0, 1, 2, 3]
    assert (output / "model.safetensors").is_file()


@pytest.mark.slow
def test_a_lone_partial_checkpoint_restarts_training_and_says_so(tiny_bert, train_val, tmp_path, caplog):
    train, val = train_val
    output = tmp_path / "resumed"
    options = FinetuneOptions(epochs=1, **FAST)
    with pytest.raises(KeyboardInterrupt):
        finetune(tiny_bert, output, train, val, options, callbacks=[_InterruptAfterFirstCheckpoint()])
    _truncate_like_kill_9(run_dir_for(output) / "checkpoint-8")

    options.resume = True
    summary = finetune(tiny_bert, output, train, val, options)
    assert summary.resumed_from is None
    assert "no complete checkpoint in" in caplog.text and "training starts from the beginning" in caplog.text
    assert [e.epoch for e in summary.epochs] == [0, 1]


@pytest.mark.slow
def test_in_place_with_merge_replaces_the_model_only_when_done(tiny_bert, train_val, tmp_path):
    train, val = train_val
    model = tmp_path / "model"
    shutil.copytree(tiny_bert, model)
    before = (model / "model.safetensors").read_bytes()
    summary = finetune(model, model, train, val, FinetuneOptions(epochs=1, merge_with_base=0.5, **FAST))
    assert summary.merged_metrics and "ndcg@10" in summary.merged_metrics
    assert (model / "model.safetensors").read_bytes() != before
    assert (model / METRICS_FILE).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "t_train_dataset.json", "t_val_dataset.json"]


@pytest.mark.slow
def test_minilm_with_hard_negatives_and_cached_loss(minilm, train_val, tmp_path):
    from sentence_transformers import SentenceTransformer

    from wmemb.train import MineOptions, mine

    train, val = train_val
    mined = tmp_path / "mined.jsonl"
    mine(train, mined, minilm, MineOptions(negatives=2))
    summary = finetune(
        minilm,
        tmp_path / "out",
        mined,
        val,
        FinetuneOptions(epochs=1, loss="cached", batch_size=16, lr=5e-5, **{"seed": 7}),
    )
    assert summary.settings["hard_negatives"] == 2 and summary.settings["mini_batch_size"] == 32
    assert summary.settings["scale"] == 20.0 and summary.settings["query_instruction"] is None  # MiniLM's own
    assert summary.epochs[1].train_loss > 0 and summary.best_epoch == 1
    model = SentenceTransformer(str(summary.output_path))
    assert model.prompts["query"] == ""  # recorded as "no instruction"
    np.testing.assert_allclose(model.encode_query(["what is a shell?"]), model.encode(["what is a shell?"]), atol=1e-6)


@pytest.mark.slow
def test_torchrun_two_cpu_processes(tiny_bert, train_val, tmp_path):
    train, val = train_val
    output = tmp_path / "ddp"
    # CPU DDP (gloo) even beside a GPU: with the GPU visible both ranks would take it
    result = torchrun_finetune(2, 29517, tiny_bert, output, train, val, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    assert result.returncode == 0, result.stderr[-3000:]
    log = json.loads((output / METRICS_FILE).read_text(encoding="utf-8"))
    assert log["settings"]["world_size"] == 2 and log["best_epoch"] == 1


@pytest.mark.parametrize("batch_size, message", [(64, "larger than the 32 distinct passages"), (1, "at least 2")])
def test_batch_size_is_checked_against_the_data(tiny_bert, train_val, tmp_path, batch_size, message):
    train, _ = train_val
    with pytest.raises(WMEmbError, match=message):
        finetune(tiny_bert, tmp_path / "out", train, None, FinetuneOptions(batch_size=batch_size))
    assert not (tmp_path / "out").exists()


def test_existing_output_is_refused_without_overwrite(tiny_bert, train_val, tmp_path):
    train, _ = train_val
    (tmp_path / "out").mkdir()
    with pytest.raises(WMEmbError, match="pass --overwrite"):
        finetune(tiny_bert, tmp_path / "out", train)


def test_folder_that_is_not_a_model_is_refused(train_val, tmp_path):
    train, _ = train_val
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("hello", encoding="utf-8")
    with pytest.raises(WMEmbError, match="not a sentence-transformers or transformers model folder"):
        finetune(tmp_path / "notes", tmp_path / "out", train)
    with pytest.raises(WMEmbError, match="HF_HUB_OFFLINE"):
        finetune("BAAI/bge-nonexistent-zh", tmp_path / "out", train)


def test_cli_reports_bad_input_in_one_line(tiny_bert, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "q", "pos": ["p"]}\n{"query": "broken\n', encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "wmemb.cli", "finetune", str(tiny_bert), str(tmp_path / "o"), str(bad)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "300"},
        timeout=300,
    )
    assert result.returncode == 2
    assert "bad.jsonl:2: not valid JSON" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
@needs_small_disk
def test_a_full_disk_at_a_checkpoint_is_one_line(tiny_bert, train_val, tmp_path):
    train, val = train_val
    disk = tmp_path / "disk"
    done = run_wmemb_on_small_disk(
        disk, "64k", "finetune", tiny_bert, disk / "out", train, "--val", val, "--epochs", "1", "--batch-size", "8"
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2 and "Traceback" not in output, output
    assert f"error: {disk / '.out.wmemb-run'}: the disk is full (" in output
    assert "free) while writing training checkpoints, it needs about" in output


@pytest.mark.slow
@pytest.mark.parametrize("bars", [True, False], ids=["progress-bars", "no-bars"])
def test_training_logs_go_to_the_log_not_stdout_as_raw_dicts(tiny_bert, train_val, tmp_path, capfd, caplog, bars):
    """The Trainer's log entries ({'loss': '1.241', 'grad_norm': ...}) are not printed between the progress bars
    (nor, with the bars off, on their own): the loss shows in the bar, and every entry is in wmemb's log."""
    import logging

    train, val = train_val
    transformers_logger = logging.getLogger("transformers")
    level = transformers_logger.level
    transformers_logger.setLevel(logging.WARNING if bars else logging.ERROR)  # above WARNING turns the bars off
    try:
        with caplog.at_level(logging.DEBUG, logger="wmemb.train.finetune"):
            finetune(tiny_bert, tmp_path / "out", train, val, FinetuneOptions(epochs=1, **FAST))
    finally:
        transformers_logger.setLevel(level)
    out, err = capfd.readouterr()
    for raw in ("{'loss'", "'grad_norm'", "{'eval_", "{'train_runtime'"):
        assert raw not in out and raw not in err, raw
    steps = [r for r in caplog.records if r.getMessage().startswith("step ")]
    assert any(r.levelno == logging.DEBUG and "loss " in r.getMessage() for r in steps)
    assert any(r.levelno == logging.INFO and "train_runtime " in r.getMessage() for r in steps)


def test_matryoshka_dims_wrap_the_loss_and_add_the_full_size(tiny_bert, train_val, tmp_path, monkeypatch):
    from sentence_transformers.sentence_transformer import losses

    built = []
    real_init = losses.MatryoshkaLoss.__init__

    def spy(self, model, loss, matryoshka_dims, **kwargs):
        built.append((type(loss).__name__, list(matryoshka_dims)))
        real_init(self, model, loss, matryoshka_dims, **kwargs)

    monkeypatch.setattr(losses.MatryoshkaLoss, "__init__", spy)
    train, val = train_val
    options = FinetuneOptions(epochs=1, matryoshka_dims=[8, 16], **FAST)
    summary = finetune(tiny_bert, tmp_path / "out", train, val, options)
    assert built == [("MultipleNegativesRankingLoss", [32, 16, 8])]  # the tiny BERT's 32 dimensions added
    assert summary.settings["matryoshka_dims"] == [32, 16, 8]
    assert json.loads((tmp_path / "out" / METRICS_FILE).read_text())["settings"]["matryoshka_dims"] == [32, 16, 8]


@pytest.mark.parametrize(
    ("dims", "message"),
    [
        ([64], "--matryoshka-dims 64: 64 is more than the model's 32 dimensions"),
        ([16, 0], "--matryoshka-dims 16,0: 0 is no vector size; each must be at least 1"),
        ([16, 8, 16], "--matryoshka-dims 16,8,16: 16 is given twice; name each size once"),
    ],
)
def test_bad_matryoshka_dims_are_one_line_before_training(tiny_bert, train_val, tmp_path, dims, message):
    train, val = train_val
    args = [str(tiny_bert), str(tmp_path / "o"), str(train)] + [f"--matryoshka-dims={dim}" for dim in dims]
    result = subprocess.run(
        [sys.executable, "-m", "wmemb.cli", "finetune", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "300"},
        timeout=300,
    )
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2 and errors == [f"error: {message}"], result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()
