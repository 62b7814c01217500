"""The model card (README.md) written into every fine-tuned model folder."""

from __future__ import annotations

from wmemb.render.tables import markdown_table
from wmemb.train.summary import METRICS_FILE, FinetuneSummary

_SHOWN_METRICS = ("ndcg@10", "mrr@10", "hit_rate@1", "recall@1", "recall@5", "recall@10")


def model_card(summary: FinetuneSummary) -> str:
    settings = summary.settings
    lines = [
        "---",
        "library_name: sentence-transformers",
        "tags: [sentence-transformers, feature-extraction, wmemb]",
        "---",
        "",
        "# Domain-adapted embedding model",
        "",
        f"Fine-tuned with [wmemb](https://pypi.org/project/wmemb/) from `{summary.base_model}`.",
        "",
        "## Data",
        "",
        f"- training pairs (query, passage): {summary.train_pairs}, "
        f"hard negatives per query: {settings['hard_negatives']}",
        f"- validation: {summary.val_queries} queries over {summary.val_corpus} passages"
        if summary.val_queries
        else "- validation: none (the last epoch is saved)",
        "",
        "## Training",
        "",
    ]
    keys = (
        "epochs",
        "learning_rate",
        "batch_size",
        "loss",
        "mini_batch_size",
        "scale",
        "temperature",
        "warmup",
        "max_length",
        "query_instruction",
        "seed",
        "early_stopping",
        "merge_with_base",
    )
    lines.append(markdown_table(["setting", "value"], [[key, repr(settings.get(key))] for key in keys]))
    if summary.epochs:
        lines += [
            "",
            "## Validation metrics",
            "",
            f"Epoch 0 is the base model; epoch {summary.best_epoch} is the one saved"
            + (" (then merged with the base)" if summary.merged_metrics is not None else "")
            + ".",
            "",
        ]
        epochs = [(str(e.epoch), e.train_loss, e.metrics) for e in summary.epochs]
        if summary.merged_metrics is not None:
            epochs.append(("merged", None, summary.merged_metrics))
        rows = [
            [
                label,
                "" if loss is None else f"{loss:.4f}",
                *(f"{metrics[m]:.4f}" if m in metrics else "" for m in _SHOWN_METRICS),
            ]
            for label, loss, metrics in epochs
        ]
        lines.append(markdown_table(["epoch", "train loss", *_SHOWN_METRICS], rows, "lr" + "r" * len(_SHOWN_METRICS)))
    instruction = settings.get("query_instruction")
    lines += [
        "",
        "## Usage",
        "",
        "```python",
        "from sentence_transformers import SentenceTransformer",
        "",
        'model = SentenceTransformer("PATH")',
        'q = model.encode_query(["..."])      # applies the saved query instruction'
        if instruction
        else 'q = model.encode_query(["..."])',
        'd = model.encode_document(["..."])',
        "```",
        "",
        f"Every epoch's metrics and the full settings are in `{METRICS_FILE}`.",
        "",
    ]
    return "\n".join(lines)
