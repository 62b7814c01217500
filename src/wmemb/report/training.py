"""The run report's "Training" section: validation NDCG@10 per epoch of each training stage (fine-tune, expand ->
fine-tune, the control arm), from the finetune_metrics.json each one wrote into its model folder."""

from __future__ import annotations

from pathlib import Path

from wmemb.errors import WMEmbError
from wmemb.io import read_json
from wmemb.render.charts import Line, line_chart
from wmemb.render.document import Block, Chart, Section, Table, Text
from wmemb.train.finetune import BEST_METRIC
from wmemb.train.summary import METRICS_FILE, FinetuneSummary

CHART_FILE = "training.svg"


def read_record(record_file: Path) -> FinetuneSummary:
    """A model folder's per-epoch record."""
    try:
        return FinetuneSummary.from_json(read_json(record_file))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise WMEmbError(
            f"{record_file}: not the per-epoch record this wmemb writes ({exc}); rerun the stage that trained it"
        ) from None


def training_section(finetuned: Path, expanded: Path | None = None, continued: Path | None = None) -> Section:
    """The curves and per-epoch table of each model folder given (expanded, continued: None when not trained)."""
    stages = [("fine-tune", finetuned)] + ([("expand → fine-tune", expanded)] if expanded else [])
    stages += [("control: fine-tune on", continued)] if continued else []
    lines: list[Line] = []
    rows: list[list[object]] = []
    blocks: list[Block] = []
    for stage, folder in stages:
        record_file = folder / METRICS_FILE
        if not record_file.is_file():
            blocks.append(Text(f"{stage}: per-epoch metrics not recorded ({record_file} is missing)."))
            continue
        record = read_record(record_file)
        epochs = [epoch for epoch in record.epochs if BEST_METRIC in epoch.metrics]
        best = record.best_epoch
        lines.append(Line(stage, [(e.epoch, e.metrics[BEST_METRIC]) for e in epochs], best))
        for epoch in epochs:
            metrics = epoch.metrics
            loss = epoch.train_loss
            rows.append(
                [
                    stage,
                    f"{epoch.epoch}" + (" (best, saved)" if epoch.epoch == best else ""),
                    "" if loss is None else f"{loss:.4f}",
                    *(
                        f"{metrics[name]:.4f}" if name in metrics else ""
                        for name in ("ndcg@10", "mrr@10", "hit_rate@1")
                    ),
                ]
            )
        best_value = next((e.metrics[BEST_METRIC] for e in epochs if e.epoch == best), None)
        if epochs and best_value is not None:
            settings = record.settings
            blocks.append(
                Text(
                    f"**{stage}**: {record.train_pairs} training pairs, {len(epochs) - 1} epoch(s), "
                    f"learning rate {settings.get('learning_rate', '?')}, batch {settings.get('batch_size', '?')}; "
                    f"validation NDCG@10 {epochs[0].metrics[BEST_METRIC]:.4f} before training, best "
                    f"{best_value:.4f} at epoch {best} (the saved model)."
                )
            )
    if lines:
        blocks += [
            Chart(
                CHART_FILE,
                line_chart("Validation NDCG@10 per epoch", "epoch (0 = before this stage)", "NDCG@10", lines),
                "validation NDCG@10 per epoch, best epoch ringed",
            ),
            Table(["stage", "epoch", "train loss", "ndcg@10", "mrr@10", "hit_rate@1"], rows, "llrrrr"),
        ]
    blocks.append(
        Text(
            "Epoch 0 is the model before the stage; the best epoch by validation NDCG@10 is the one saved. "
            "These figures come from the trainer's evaluator and can differ slightly from the verdict's.",
            note=True,
        )
    )
    return Section("Training", "training", blocks)
