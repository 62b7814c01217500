"""Contrastive fine-tuning the way BGE was trained, with best-epoch selection, resume and merging.

sentence-transformers' Trainer with in-batch negatives (MultipleNegativesRankingLoss, or its
GradCache variant for large effective batches on small memory), the no-duplicates batch sampler (two
questions about the same passage in one batch would be false negatives for each other), the
model's query instruction on queries, validation every epoch and the best epoch kept.

Checkpoints live in a hidden sibling of the output (`.<name>.wmemb-run/`) so `--resume` finds them
after a crash; the finished model is written into a temporary folder and swapped in, so the output
may be the input model itself and is never half-written.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from wmemb.errors import WMEmbError
from wmemb.io import (
    atomic_dir,
    check_output_model_dir,
    folder_size,
    full_disk_is_an_error,
    reject_overwriting_inputs,
    write_json,
)
from wmemb.memory import map_large_blocks
from wmemb.models import check_model_folder, check_vector_sizes, load_sentence_model, model_max_length
from wmemb.records import read_qa_dataset
from wmemb.settings import SETTINGS, check_options, shared
from wmemb.train.card import model_card
from wmemb.train.data import TrainingRows, load_training_rows
from wmemb.train.merge import merge_with_base
from wmemb.train.model import decide_query_instruction
from wmemb.train.summary import METRICS_FILE, EpochMetrics, FinetuneSummary

log = logging.getLogger(__name__)

EVALUATOR_NAME = "val"
BEST_METRIC = "ndcg@10"
BGE_SCALE = 50.0  # BGE's temperature 0.02
DEFAULT_SCALE = 20.0  # sentence-transformers' default (temperature 0.05), what all-MiniLM was trained with
DEFAULT_BATCH_SIZE = 32
MATRYOSHKA_SETTING = SETTINGS["matryoshka_dims"].flag
# A checkpoint holds the weights and AdamW's two moments (about 3x the model); with save_total_limit=2 a
# third is written before the oldest goes.
CHECKPOINT_DISK_FACTOR = 3 * 3


@dataclass
class FinetuneOptions:
    """Settings of one fine-tuning run; None means "pick the practitioner's default" (see below). The fields declared
    `shared` take a setting of `wmemb run` (settings.py: default, help, range, choices)."""

    epochs: int = shared("epochs")  # the best epoch on --val is kept
    lr: float | None = shared("lr")  # by parameter count: 3e-5 small, 2e-5 base, 1e-5 large (BAAI's recipes)
    batch_size: int | None = shared("batch_size")  # 32, or the number of distinct passages when the data is smaller
    loss: str = shared("loss")  # "mnrl" or "cached" (GradCache: large batches, memory of mini_batch_size)
    mini_batch_size: int = 32
    scale: float | None = shared("scale")  # 50 (BGE, temperature 0.02) for BGE models, else 20 (the model's own)
    query_instruction: str | None = None  # None: detected from the model
    no_query_instruction: bool = False
    warmup: float = 0.1  # share of the training steps
    early_stopping: int | None = None  # stop after N epochs without a better val NDCG@10
    resume: bool = False
    merge_with_base: float | None = None  # weight of the base model in the LM-Cocktail average
    overwrite: bool = False
    max_length: int | None = shared("max_length")  # None: the longest text of the data, up to the model's limit
    seed: int = shared("seed", help="Random seed.")
    gradient_checkpointing: bool = shared("gradient_checkpointing")
    precision: str = shared("precision")  # auto: bf16 on a GPU that has it, else fp16 on a GPU, fp32 on the CPU
    matryoshka_dims: list[int] = shared("matryoshka_dims")  # truncated sizes MatryoshkaLoss trains too; [] = off

    def check(self) -> None:
        check_options(self)
        check_vector_sizes(self.matryoshka_dims, MATRYOSHKA_SETTING)
        # options of the finetune command only, not settings of `wmemb run`
        if self.mini_batch_size < 1:
            raise WMEmbError(f"--mini-batch-size {self.mini_batch_size}: must be at least 1")
        if not 0 <= self.warmup < 1:
            raise WMEmbError(f"warmup {self.warmup}: must be a share of the steps, at least 0 and less than 1")
        if self.merge_with_base is not None and not 0 < self.merge_with_base < 1:
            raise WMEmbError(f"--merge-with-base {self.merge_with_base}: must be more than 0 and less than 1")
        if self.early_stopping is not None and self.early_stopping < 1:
            raise WMEmbError(f"--early-stopping {self.early_stopping}: must be at least 1 epoch")


def run_dir_for(output: Path) -> Path:
    """Where checkpoints of a run into `output` live until it finishes (found again by --resume)."""
    return output.parent / f".{output.name}.wmemb-run"


def finetune(
    model: str | os.PathLike | None,
    output: str | os.PathLike,
    train_dataset: str | os.PathLike,
    val_dataset: str | os.PathLike | None = None,
    options: FinetuneOptions | None = None,
    callbacks: list | None = None,
) -> FinetuneSummary:
    """Fine-tune `model` on `train_dataset` into the folder `output` (which may be the model itself).

    `callbacks` are extra transformers TrainerCallbacks. Under torchrun every process trains and
    only the main one writes the output.
    """
    options = options or FinetuneOptions()
    options.check()
    if options.early_stopping and val_dataset is None:
        raise WMEmbError("--early-stopping needs validation data; pass --val")
    output = Path(output).expanduser()
    folder = check_model_folder(model)
    in_place = output.resolve() == folder.resolve()
    check_output_model_dir(output, overwrite=options.overwrite or in_place)
    # Replacing the model itself is done safely (the new folder is complete before the old one goes).
    inputs = [("MODEL", None if in_place else folder), ("TRAIN_DATASET", train_dataset), ("--val", val_dataset)]
    reject_overwriting_inputs([output, run_dir_for(output)], inputs)
    if in_place:
        log.info("output is the input model: the new model replaces it only once it is completely written")
    map_large_blocks()  # activations freed each step go back to the system (wmemb/memory.py: 2.8 -> 1.7 GB)
    rows = load_training_rows(train_dataset, seed=options.seed)
    val = read_qa_dataset(val_dataset) if val_dataset is not None else None
    st_model = load_sentence_model(folder).model

    instruction = decide_query_instruction(folder, options.query_instruction, options.no_query_instruction, rows.prompt)
    settings = _resolve_settings(options, st_model, folder, rows, val, instruction)
    run_dir = run_dir_for(output)
    trainer, resumed_from = _build_trainer(st_model, rows, val, instruction, settings, options, run_dir, callbacks)

    base_metrics = _evaluate(trainer, st_model) if val is not None and trainer.is_world_process_zero() else None
    log.info(
        "training %d pairs for %d epochs on %s (world size %d)",
        len(rows),
        options.epochs,
        trainer.args.device,
        trainer.args.world_size,
    )
    with full_disk_is_an_error(run_dir, "training checkpoints", CHECKPOINT_DISK_FACTOR * folder_size(folder)):
        result = trainer.train(resume_from_checkpoint=resumed_from)
    summary = FinetuneSummary(
        output_path=output,
        base_model=str(folder),
        train_pairs=len(rows),
        val_queries=len(val.queries) if val else 0,
        val_corpus=len(val.corpus) if val else 0,
        best_epoch=None,
        settings=settings,
        train_samples_per_second=float(result.metrics.get("train_samples_per_second", 0.0)),
        resumed_from=resumed_from,
    )
    summary.epochs, summary.best_epoch = _epochs_from_history(trainer.state, base_metrics)
    best = summary.best_metrics
    if base_metrics and best and best.get(BEST_METRIC, 0) < base_metrics.get(BEST_METRIC, 0):
        log.warning(
            "no epoch beat the base model on val %s (%.4f < %.4f); check the data or lower --lr",
            BEST_METRIC,
            best[BEST_METRIC],
            base_metrics[BEST_METRIC],
        )
    if not trainer.is_world_process_zero():
        return summary

    trained = trainer.model
    if options.merge_with_base is not None:
        merge_with_base(trained, folder, options.merge_with_base)
        summary.merged_metrics = _evaluate(trainer, trained) if val is not None else None
    summary.wrote_output = True
    _save(trained, output, summary, instruction, settings["model_max_length"], overwrite=options.overwrite or in_place)
    shutil.rmtree(run_dir, ignore_errors=True)
    return summary


def _resolve_settings(
    options: FinetuneOptions, model, folder: Path, rows: TrainingRows, val, instruction: str | None
) -> dict:
    """Fill in the defaults that depend on the model and the data; check the batch against the data."""
    distinct = rows.distinct_positives()
    batch_size = options.batch_size
    if batch_size is None:
        batch_size = min(DEFAULT_BATCH_SIZE, distinct)
    elif batch_size > distinct:
        raise WMEmbError(
            f"--batch-size {batch_size} is larger than the {distinct} distinct passages of the training "
            f"data (a batch never holds one passage twice); pass --batch-size {distinct} or less"
        )
    if batch_size < 2:
        raise WMEmbError(
            f"the training data has only {distinct} distinct passage(s); in-batch negatives need at least 2"
        )
    parameters = sum(p.numel() for p in model.parameters())
    lr = options.lr or (3e-5 if parameters < 60e6 else 2e-5 if parameters < 200e6 else 1e-5)
    scale = options.scale or (
        BGE_SCALE if "bge" in str(folder).lower() or "bge" in _name_or_path(model).lower() else DEFAULT_SCALE
    )
    limit = model_max_length(folder)
    if options.max_length:
        max_length = min(options.max_length, limit)
    else:
        # validation texts count too: the per-epoch scores must be those of the saved model
        queries = rows.anchors + (list(val.queries.values()) if val else [])
        passages = rows.texts() + (list(val.corpus.values()) if val else [])
        longest = _longest_tokens(model.tokenizer, queries, passages, instruction)
        max_length = min(longest, limit)
        if longest > limit:
            log.warning(
                "the longest training text has %d tokens; texts are truncated at the model's limit %d", longest, limit
            )
    dimension = model.get_embedding_dimension()
    dims = check_vector_sizes(options.matryoshka_dims, MATRYOSHKA_SETTING, dimension)
    settings = {
        "epochs": options.epochs,
        "learning_rate": lr,
        "batch_size": batch_size,
        "loss": options.loss,
        "mini_batch_size": options.mini_batch_size if options.loss == "cached" else None,
        "scale": scale,
        # the full size is trained too (MatryoshkaLoss scores only the sizes it is given)
        "matryoshka_dims": sorted({*dims, dimension}, reverse=True) if dims else None,
        "temperature": round(1 / scale, 4),
        "warmup": options.warmup,
        "max_length": max_length,
        "model_max_length": limit,
        "query_instruction": instruction,
        "hard_negatives": rows.negatives_per_row,
        "seed": options.seed,
        "early_stopping": options.early_stopping,
        "merge_with_base": options.merge_with_base,
        "gradient_checkpointing": options.gradient_checkpointing,
        "precision": _resolve_precision(options.precision),
        "parameters": parameters,
        "world_size": int(os.environ.get("WORLD_SIZE", "1")),
    }
    log.info(
        "settings: lr %.0e (%.0fM parameters), batch %d, scale %g, max length %d, %d hard negatives per query",
        lr,
        parameters / 1e6,
        batch_size,
        scale,
        max_length,
        rows.negatives_per_row,
    )
    return settings


def _name_or_path(model) -> str:
    first = model[0]
    config = getattr(getattr(first, "auto_model", None), "config", None)
    return str(getattr(config, "_name_or_path", "") or "")


def _longest_tokens(tokenizer, queries: list[str], passages: list[str], instruction: str | None) -> int:
    """Longest text in tokens (special tokens included), queries with their instruction; only the
    1000 longest in characters of each kind are tokenized, which keeps this fast on large data."""
    queries = sorted(set(queries), key=len, reverse=True)[:1000]
    passages = sorted(set(passages), key=len, reverse=True)[:1000]
    texts = [(instruction or "") + q for q in queries] + passages
    return max(len(ids) for ids in tokenizer(texts, add_special_tokens=True, truncation=False)["input_ids"])


def _build_trainer(
    model,
    rows: TrainingRows,
    val,
    instruction: str | None,
    settings: dict,
    options: FinetuneOptions,
    run_dir: Path,
    callbacks: list | None,
):
    import torch
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer import losses
    from transformers import EarlyStoppingCallback

    model.max_seq_length = settings["max_length"]
    batch_size = settings["batch_size"]
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    steps_per_epoch = max(1, math.ceil(len(rows) / (batch_size * world_size)))
    on_cuda = torch.cuda.is_available()
    precision = settings["precision"]
    # accelerate treats a torchrun job as multi-CPU DDP (gloo) only when told it runs on the CPU;
    # otherwise every process would train alone while the loss still gathers across them.
    cpu_only = not on_cuda and not torch.backends.mps.is_available()
    args = SentenceTransformerTrainingArguments(
        output_dir=str(run_dir),
        num_train_epochs=options.epochs,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=batch_size,
        learning_rate=settings["learning_rate"],
        warmup_steps=options.warmup,
        seed=options.seed,
        data_seed=options.seed,
        batch_sampler="no_duplicates",
        prompts={"anchor": instruction} if instruction else None,
        eval_strategy="epoch" if val is not None else "no",
        save_strategy="epoch",
        save_total_limit=2,
        load_best_model_at_end=val is not None,
        metric_for_best_model=f"eval_{EVALUATOR_NAME}_cosine_{BEST_METRIC}" if val is not None else None,
        greater_is_better=True,
        logging_strategy="steps",
        logging_steps=max(1, steps_per_epoch // 10),
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=cpu_only,
        report_to="none",
        ddp_find_unused_parameters=True if world_size > 1 else None,
    )
    if options.gradient_checkpointing:
        # Enabled on the model rather than through the Trainer's argument: some transformers releases
        # call model.gradient_checkpointing_enable with keywords (every_n_layers) that sentence-transformers
        # releases of the same period do not take.
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    log.info("precision: %s%s", precision, " (mixed; validation in fp32)" if precision != "fp32" else "")

    gather = world_size > 1  # share in-batch negatives across DDP processes
    loss: torch.nn.Module
    if options.loss == "cached":
        loss = losses.CachedMultipleNegativesRankingLoss(
            model, scale=settings["scale"], mini_batch_size=options.mini_batch_size, gather_across_devices=gather
        )
    else:
        loss = losses.MultipleNegativesRankingLoss(model, scale=settings["scale"], gather_across_devices=gather)
    if settings["matryoshka_dims"]:
        # the in-batch loss over each truncated size too, so the first dimensions alone still rank well
        loss = losses.MatryoshkaLoss(model, loss, matryoshka_dims=settings["matryoshka_dims"])
    evaluator = _evaluator(val, instruction, batch_size) if val is not None else None
    extra = list(callbacks or [])
    if options.early_stopping:
        extra.append(EarlyStoppingCallback(early_stopping_patience=options.early_stopping))

    resumed_from = None
    with args.main_process_first(desc="preparing the checkpoint folder"):
        if args.process_index == 0:
            resumed_from = _prepare_run_dir(run_dir, options.resume)
    if world_size > 1 and options.resume:
        resumed_from = _last_checkpoint(run_dir)
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=rows.to_dataset(), loss=loss, evaluator=evaluator, callbacks=extra
    )
    _log_instead_of_printing(trainer)
    return trainer, resumed_from


def _log_instead_of_printing(trainer) -> None:
    """The Trainer prints every log entry as a raw dict ({'loss': '1.241', 'grad_norm': ...}) on stdout, between
    the progress bars (ProgressCallback.on_log, or PrinterCallback without bars). Replace both: the loss goes into
    the progress bar, and each entry into the log (training steps at DEBUG, the rest at INFO)."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    class LoggingProgress(ProgressCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs:
                return
            shown = {key: f"{value:.4g}" if isinstance(value, float) else value for key, value in logs.items()}
            shown.pop("total_flos", None)
            if self.training_bar is not None and "loss" in shown:
                self.training_bar.set_postfix(loss=shown["loss"], refresh=False)
            log.log(
                logging.DEBUG if "loss" in logs else logging.INFO,
                "step %d of %d: %s",
                state.global_step,
                state.max_steps,
                ", ".join(f"{key} {value}" for key, value in shown.items()),
            )

    class LoggingOnly(LoggingProgress):  # the Trainer's own bars are off (disable_tqdm): none here either
        def on_train_begin(self, args, state, control, **kwargs):
            self.current_step = 0

        def on_step_end(self, args, state, control, **kwargs):
            pass

        def on_prediction_step(self, args, state, control, eval_dataloader=None, **kwargs):
            pass

        def on_train_end(self, args, state, control, **kwargs):
            pass

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(LoggingOnly() if trainer.args.disable_tqdm else LoggingProgress())


def _resolve_precision(requested: str) -> str:
    import torch

    on_cuda = torch.cuda.is_available()
    _check_processes_fit_gpus(int(os.environ.get("WORLD_SIZE", "1")), torch.cuda.device_count() if on_cuda else 0)
    if requested == "auto":
        return ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if on_cuda else "fp32"
    if requested == "fp16" and not on_cuda:
        raise WMEmbError("--precision fp16 needs a CUDA GPU; use bf16 or fp32 on the CPU")
    return requested


def _check_processes_fit_gpus(world_size: int, gpus: int) -> None:
    """Under torchrun each process takes one GPU: more processes than GPUs would share (and NCCL refuses)."""
    if gpus and world_size > gpus:
        raise WMEmbError(
            f"torchrun started {world_size} processes but this machine has {gpus} GPU(s); pass "
            f"--nproc_per_node {gpus}, or hide the GPUs (CUDA_VISIBLE_DEVICES=) to train on the CPU"
        )


def _prepare_run_dir(run_dir: Path, resume: bool) -> str | None:
    """The checkpoint to resume from, or None after clearing what an earlier run left behind."""
    if resume:
        _remove_partial_checkpoints(run_dir)
    last = _last_checkpoint(run_dir)
    if resume and last:
        log.info("resuming from %s", last)
        return last
    if resume:
        log.warning("no complete checkpoint in %s to resume from; training starts from the beginning", run_dir)
    elif last:
        log.warning("an interrupted run left checkpoints in %s; starting over (pass --resume to continue it)", run_dir)
    shutil.rmtree(run_dir, ignore_errors=True)
    return None


def _remove_partial_checkpoints(run_dir: Path) -> None:
    """Delete the checkpoints a kill cut short while the Trainer saved them.

    The Trainer writes trainer_state.json last, so a checkpoint without a readable one is incomplete;
    resuming from it fails on every rerun (FileNotFoundError), so the previous complete one is used instead.
    """
    from transformers.trainer import TRAINER_STATE_NAME
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    for checkpoint in sorted(run_dir.glob(f"{PREFIX_CHECKPOINT_DIR}-*")) if run_dir.is_dir() else []:
        try:
            json.loads((checkpoint / TRAINER_STATE_NAME).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            log.warning(
                "%s: an interrupted save left this checkpoint incomplete (no readable %s); removed it",
                checkpoint,
                TRAINER_STATE_NAME,
            )
            shutil.rmtree(checkpoint, ignore_errors=True)


def _last_checkpoint(run_dir: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(run_dir)) if run_dir.is_dir() else None


def _evaluator(val, instruction: str | None, batch_size: int):
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    class FullPrecisionEvaluator(InformationRetrievalEvaluator):
        """Scores the model in fp32 even while it trains in bf16/fp16.

        Under mixed precision accelerate wraps `model.forward` in autocast, so an evaluator called by
        the Trainer would score a bf16 model: the recorded figures would not be those of the saved
        (fp32) model, and the best epoch could be picked by rounding noise.
        """

        def __call__(self, model, *args, **kwargs):
            original = model.__dict__.get("_original_forward")
            if original is None:
                return super().__call__(model, *args, **kwargs)
            patched = model.forward
            model.forward = original
            try:
                return super().__call__(model, *args, **kwargs)
            finally:
                model.forward = patched

    return FullPrecisionEvaluator(
        val.queries,
        val.corpus,
        {qid: set(docs) for qid, docs in val.relevant_docs.items()},
        query_prompt=instruction,
        name=EVALUATOR_NAME,
        batch_size=batch_size,
        write_csv=False,
        accuracy_at_k=[1, 3, 5, 10],
        precision_recall_at_k=[1, 3, 5, 10],
    )


def _evaluate(trainer, model) -> dict[str, float]:
    return _short_metric_names(trainer.evaluator(model))


def _short_metric_names(metrics: dict) -> dict[str, float]:
    """`eval_val_cosine_ndcg@10` -> `ndcg@10`, `..._accuracy@1` -> `hit_rate@1` (the name `wmemb evaluate`
    and every report use); run-time figures are dropped."""
    prefixes = (f"eval_{EVALUATOR_NAME}_cosine_", f"{EVALUATOR_NAME}_cosine_")
    short = {}
    for key, value in metrics.items():
        for prefix in prefixes:
            if key.startswith(prefix):
                name = key[len(prefix) :].replace("accuracy@", "hit_rate@")
                short[name] = round(float(value), 6)
    return short


def _epochs_from_history(state, base_metrics: dict | None) -> tuple[list[EpochMetrics], int | None]:
    """Per-epoch mean training loss and validation metrics from the trainer's log (kept across resumes)."""
    losses: dict[int, list[float]] = {}
    evals: dict[int, dict] = {}
    for entry in state.log_history:
        epoch = math.ceil(round(entry.get("epoch", 0), 6))
        if "loss" in entry:
            losses.setdefault(epoch, []).append(float(entry["loss"]))
        if any(key.startswith("eval_") for key in entry):
            evals[epoch] = _short_metric_names(entry)
    epochs = [EpochMetrics(0, None, base_metrics)] if base_metrics is not None else []
    for epoch in sorted(set(losses) | set(evals)):
        if epoch == 0:
            continue
        mean_loss = sum(losses[epoch]) / len(losses[epoch]) if epoch in losses else None
        epochs.append(EpochMetrics(epoch, round(mean_loss, 6) if mean_loss is not None else None, evals.get(epoch, {})))
    if not evals:
        return epochs, None
    best_epoch = max(evals, key=lambda e: (evals[e].get(BEST_METRIC, float("-inf")), -e))
    return epochs, best_epoch


def _save(
    model, output: Path, summary: FinetuneSummary, instruction: str | None, max_length: int, overwrite: bool
) -> None:
    """Write the complete model folder (weights, tokenizer, prompts, card, metrics log), then swap it in."""
    model.max_seq_length = max_length  # inference keeps the model's own limit, whatever training used
    # "" records "no instruction" explicitly, so a BGE-looking folder name is not taken for one later.
    model.prompts = {**model.prompts, "query": instruction or "", "document": model.prompts.get("document", "")}
    model.default_prompt_name = None
    with atomic_dir(output, overwrite=overwrite, needed=folder_size(summary.base_model)) as tmp:
        model.save(str(tmp))
        (tmp / "README.md").write_text(model_card(summary), encoding="utf-8")
        write_json(tmp / METRICS_FILE, summary.to_json())
    log.info(
        "saved the %s model to %s",
        "merged"
        if summary.merged_metrics is not None
        else f"epoch {summary.best_epoch}"
        if summary.best_epoch
        else "last epoch",
        output,
    )
