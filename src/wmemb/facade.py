"""`WMEmbModel`: the script API (`from WMEmbModel import WMEmbModel`), wiring the stages together and nothing more.

embModel = WMEmbModel("weights/bge-small-zh-v1.5")
embModel.split("data/book.txt", "data")
embModel.prepare("data/book_train_nodes.jsonl", "data/book_val_nodes.jsonl", "data")
embModel.finetune("weights/bge-small-zh-v1.5", "weights/finetuned", "data/book_train_dataset.json",
                  val_dataset_path="data/book_val_dataset.json")
embModel.expand(["芽孢杆菌", "革兰氏阳性菌"], "weights/expanded")
"""

from __future__ import annotations

import logging
from pathlib import Path

from wmemb.errors import WMEmbError
from wmemb.models import DEFAULT_MODEL

log = logging.getLogger(__name__)


class WMEmbModel:
    def __init__(self, weight_path: str | Path | None = None):
        """`weight_path`: the base embedding model (a local folder or hub id); None = packaged MiniLM."""
        self.weight_path = None if weight_path is None else str(weight_path)

    def split(self, txt_path: str | Path | list[str | Path], out_dir: str | Path, **options):
        """Split a corpus into `<stem>_train_nodes.jsonl` / `<stem>_val_nodes.jsonl` in `out_dir`.

        Options as in `wmemb split` (chunk_tokens, overlap, min_chars, val_ratio, seed, name, model)."""
        # `import wmemb` loads no stage: each loads when first used
        from wmemb.corpus import SplitOptions, split_corpus

        inputs = list(txt_path) if isinstance(txt_path, (list, tuple)) else [txt_path]
        model = options.pop("model", self.weight_path)
        name = options.pop("name", None)
        summary = split_corpus(inputs, out_dir, model=model, options=SplitOptions(**options), name=name)
        log.info(
            "split: %d train and %d val passages -> %s, %s",
            summary.train,
            summary.val,
            summary.train_path,
            summary.val_path,
        )
        return summary

    def prepare(self, train_nodes: str | Path, val_nodes: str | Path, out_dir: str | Path, **options):
        """Write `<stem>_train_dataset.json` / `<stem>_val_dataset.json` (llama_index layout) in `out_dir`.

        Options as in `wmemb prepare` (llm, base_urls, model, concurrency, questions_per_chunk, query_styles,
        prompt_file, filter_topk, embed_model, max_retries, timeout, json_mode, ...); the consistency
        filter uses this model unless embed_model is given. Returns a PrepareSummary."""
        # `import wmemb` loads no stage: each loads when first used (imports httpx)
        from wmemb.generate import PrepareOptions, prepare_datasets

        if options.get("filter_topk"):
            options.setdefault("embed_model", self.weight_path)
        try:
            prepare_options = PrepareOptions(**options)
        except TypeError as exc:
            raise WMEmbError(f"prepare: {exc}; see `wmemb prepare --help` for the options") from None
        summary = prepare_datasets(train_nodes, val_nodes, out_dir, prepare_options)
        log.info(
            "prepare: %d train and %d val queries -> %s, %s",
            summary.train.queries,
            summary.val.queries,
            summary.train.dataset_path,
            summary.val.dataset_path,
        )
        return summary

    def finetune(
        self,
        model_path: str | Path,
        output_path: str | Path,
        train_dataset: str | Path,
        val_dataset_path: str | Path | None = None,
        **options,
    ):
        """Fine-tune `model_path` into `output_path` (may be the same folder: it is replaced only when done).

        Options as in `wmemb finetune` (epochs, lr, batch_size, loss, scale, query_instruction,
        early_stopping, resume, merge_with_base, overwrite, ...). Returns a `FinetuneSummary`."""
        # `import wmemb` loads no stage: each loads when first used
        from wmemb.train import FinetuneOptions, finetune

        summary = finetune(model_path, output_path, train_dataset, val_dataset_path, FinetuneOptions(**options))
        log.info("finetune: best epoch %s -> %s", summary.best_epoch, summary.output_path)
        return summary

    def expand(self, words: list[str], output_path: str | Path, **options):
        """Add `words` to this model's tokenizer and embeddings; save the model to `output_path`.

        `output_path` may be `weight_path` itself (replaced safely). Options as in `wmemb expand`:
        init ("mean-subtoken" | "hf-default" | "random"), overwrite, report_texts (node JSONL)."""
        # `import wmemb` loads no stage: each loads when first used
        from wmemb.vocab import expand_model

        report = expand_model(self.weight_path, output_path, words, **options)
        log.info("expand: %d term(s) added, %d skipped -> %s", len(report.added), len(report.skipped), report.output)
        return report

    def evaluate(
        self, dataset: str | Path, models: list[str | Path] | None = None, out_dir: str | Path | None = None, **options
    ):
        """Compare `models` (default: this model) on a llama_index JSON dataset or a BEIR folder.

        Options as in `wmemb evaluate` (ks, batch_size, split); with `out_dir`, writes metrics.json,
        metrics.md and metrics.svg there. Returns an `EvaluationResult`."""
        # `import wmemb` loads no stage: each loads when first used (imports torch)
        from wmemb.evaluate import evaluate_models

        models = list(models) if models else [self.weight_path or DEFAULT_MODEL]
        return evaluate_models(models, dataset, out_dir=out_dir, **options)
