"""The `wmemb` command line: one subcommand per stage, plus the pipeline.

User errors (`WMEmbError`) print one line on stderr and exit with status 2; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from wmemb.errors import WMEmbError

app = typer.Typer(
    name="wmemb",
    help="Adapt BGE-family embedding models to your domain: split -> prepare -> finetune -> expand -> evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
console = Console(stderr=True)


@app.callback()
def _configure(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
               quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Warnings and errors only.")] = False) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(message)s", datefmt="[%X]",
                        handlers=[RichHandler(console=console, show_path=False, rich_tracebacks=False)], force=True)
    for noisy in ("httpx", "httpcore", "urllib3", "filelock", "huggingface_hub", "sentence_transformers", "transformers", "jieba"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def print_table(title: str, rows: list[tuple[str, object]]) -> None:
    """A two-column summary table on stderr (stdout stays free for machine-readable output)."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, str(value))
    console.print(table)


@app.command()
def split(
    inputs: Annotated[list[Path], typer.Argument(help="Files (.txt .md .html .pdf) or folders to read.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the node files.")],
    model: Annotated[Optional[str], typer.Option(help="Model whose tokenizer measures passages (folder or hub id); default: packaged MiniLM.")] = None,
    chunk_tokens: Annotated[int, typer.Option(help="Max tokens per passage, special tokens included (capped at the model's limit).")] = 256,
    overlap: Annotated[int, typer.Option(help="Tokens of trailing sentences repeated at the start of the next passage.")] = 0,
    min_chars: Annotated[int, typer.Option(help="Remove passages with fewer non-space characters (page numbers, headers).")] = 10,
    val_ratio: Annotated[float, typer.Option(help="Share of passages for validation, in (0, 1).")] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of the train/validation assignment.")] = 42,
    name: Annotated[Optional[str], typer.Option(help="Output file stem; default: the first input's name.")] = None,
) -> None:
    """Cut documents into sentence-aligned passages and divide them into train and validation sets."""
    from wmemb.corpus import SplitOptions, split_corpus

    options = SplitOptions(chunk_tokens=chunk_tokens, overlap=overlap, min_chars=min_chars, val_ratio=val_ratio, seed=seed)
    summary = split_corpus(inputs, output, model=model, options=options, name=name)
    print_table("split", [
        ("files read", summary.files),
        ("files skipped", len(summary.skipped_files)),
        ("sentences", summary.sentences),
        ("long sentences cut (kept)", summary.long_sentences_cut),
        ("passages", f"{summary.passages} (train {summary.train}, val {summary.val})"),
        ("tokens", f"{summary.tokens_total} total, max {summary.tokens_max} of {summary.chunk_tokens}"),
        ("duplicates removed", f"{summary.duplicates_removed} ({summary.duplicate_chars} chars)"),
        ("short fragments removed", f"{summary.short_removed} ({summary.short_chars} chars)"),
        ("PDF headers/page numbers removed", f"{summary.boilerplate_lines_removed} lines ({summary.boilerplate_chars} chars)"),
        ("train nodes", summary.train_path),
        ("val nodes", summary.val_path),
    ])


@app.command()
def evaluate(
    model: Annotated[list[str], typer.Option("--model", "-m", help="Model to evaluate (folder, hub id or 'minilm'); repeat to compare.", show_default=False)],
    dataset: Annotated[Path, typer.Option(help="llama_index *_dataset.json or a BEIR folder (corpus.jsonl, queries.jsonl, qrels/).", show_default=False)],
    k: Annotated[str, typer.Option("--k", help="Cut-offs for hit rate and recall, comma-separated.")] = "1,3,5,10",
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Folder for metrics.json, metrics.md and metrics.png.")] = None,
    batch_size: Annotated[int, typer.Option(help="Texts encoded per batch.")] = 32,
    split: Annotated[str, typer.Option(help="Which qrels/<split>.tsv of a BEIR folder to use.")] = "test",
) -> None:
    """Compare models on the same queries: hit rate@k, MRR@10, NDCG@10, recall@k, MAP@100."""
    from wmemb.evaluate import evaluate_models, metrics_table

    ks = [part.strip() for part in k.split(",") if part.strip()]
    result = evaluate_models(model, dataset, ks=ks, out_dir=output, batch_size=batch_size, split=split)
    console.print(metrics_table(result))
    for path in result.reports.values():
        console.print(f"wrote {path}", highlight=False)


@app.command()
def finetune(
    model: Annotated[str, typer.Argument(help="Base model: folder, hub id or 'minilm'.", show_default=False)],
    output: Annotated[Path, typer.Argument(help="Folder for the fine-tuned model (may be MODEL itself).", show_default=False)],
    train_dataset: Annotated[Path, typer.Argument(help="llama_index *_dataset.json or FlagEmbedding .jsonl.", show_default=False)],
    val: Annotated[Optional[Path], typer.Option(help="Validation dataset (same formats); the best epoch on it is saved.")] = None,
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 2,
    lr: Annotated[Optional[float], typer.Option(help="Learning rate; default by size: 3e-5 small, 2e-5 base, 1e-5 large.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Pairs per batch (per process); default 32, capped at the data.")] = None,
    loss: Annotated[str, typer.Option(help="mnrl (in-batch negatives) or cached (GradCache: big batches, small memory).")] = "mnrl",
    mini_batch_size: Annotated[int, typer.Option(help="With --loss cached: pairs encoded at once.")] = 32,
    scale: Annotated[Optional[float], typer.Option(help="Similarity scale = 1/temperature; default 50 for BGE models, else 20.")] = None,
    query_instruction: Annotated[Optional[str], typer.Option(help="Instruction prepended to queries; default: the model's own.")] = None,
    no_query_instruction: Annotated[bool, typer.Option("--no-query-instruction", help="Train and save without a query instruction.")] = False,
    early_stopping: Annotated[Optional[int], typer.Option(help="Stop after N epochs without a better val NDCG@10.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run from its last checkpoint.")] = False,
    merge_with_base: Annotated[Optional[float], typer.Option(help="Average with the base model, W = base weight in (0, 1).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing OUTPUT folder.")] = False,
    max_length: Annotated[Optional[int], typer.Option(help="Max tokens per text; default: the data's longest, up to the model's limit.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    gradient_checkpointing: Annotated[bool, typer.Option("--gradient-checkpointing", help="Trade compute for memory.")] = False,
) -> None:
    """Contrastive fine-tuning (BGE recipe), keeping the best epoch on --val; works under torchrun."""
    from wmemb.train import FinetuneOptions
    from wmemb.train import finetune as run_finetune

    options = FinetuneOptions(epochs=epochs, lr=lr, batch_size=batch_size, loss=loss, mini_batch_size=mini_batch_size,
                              scale=scale, query_instruction=query_instruction, no_query_instruction=no_query_instruction,
                              early_stopping=early_stopping, resume=resume, merge_with_base=merge_with_base,
                              overwrite=overwrite, max_length=max_length, seed=seed,
                              gradient_checkpointing=gradient_checkpointing)
    summary = run_finetune(model, output, train_dataset, val, options)
    if not summary.wrote_output:  # a non-main torchrun process
        return
    best = summary.best_metrics or {}
    base = summary.epochs[0].metrics if summary.epochs and summary.epochs[0].epoch == 0 else {}
    print_table("finetune", [
        ("training pairs", summary.train_pairs),
        ("validation", f"{summary.val_queries} queries, {summary.val_corpus} passages" if summary.val_queries else "none"),
        ("epochs", ", ".join(f"{e.epoch}: loss {e.train_loss}, ndcg@10 {e.metrics.get('ndcg@10')}" for e in summary.epochs) or "-"),
        ("best epoch", summary.best_epoch if summary.best_epoch is not None else "last (no validation)"),
        ("val ndcg@10 base -> best", f"{base.get('ndcg@10')} -> {best.get('ndcg@10')}" if best else "-"),
        ("merged with base", f"ndcg@10 {summary.merged_metrics.get('ndcg@10')}" if summary.merged_metrics else "no"),
        ("samples/s", f"{summary.train_samples_per_second:.1f}"),
        ("model", summary.output_path),
    ])


@app.command()
def mine(
    dataset: Annotated[Path, typer.Argument(help="llama_index *_dataset.json or FlagEmbedding .jsonl.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="FlagEmbedding JSONL to write.", show_default=False)],
    model: Annotated[Optional[str], typer.Option(help="Model that ranks the passages; default: packaged MiniLM.")] = None,
    range_min: Annotated[int, typer.Option(help="Skip the top ranks (likely unlabelled answers).")] = 10,
    range_max: Annotated[int, typer.Option(help="Sample negatives from ranks below this.")] = 210,
    negatives: Annotated[int, typer.Option(help="Hard negatives per query.")] = 7,
    margin: Annotated[float, typer.Option(help="A negative must score below (1 - margin) x the positive's score.")] = 0.05,
    batch_size: Annotated[int, typer.Option(help="Texts encoded per batch.")] = 64,
    query_instruction: Annotated[Optional[str], typer.Option(help="Instruction prepended to queries; default: the model's own.")] = None,
    no_query_instruction: Annotated[bool, typer.Option("--no-query-instruction", help="Search without a query instruction.")] = False,
    faiss: Annotated[Optional[bool], typer.Option("--faiss/--no-faiss", help="Search with faiss; default: when installed.", show_default=False)] = None,
    seed: Annotated[int, typer.Option(help="Seed of the negative sampling.")] = 42,
) -> None:
    """Mine hard negatives for each query from a rank window that skips the top; writes FlagEmbedding JSONL."""
    from wmemb.train import MineOptions
    from wmemb.train import mine as run_mine

    options = MineOptions(range_min=range_min, range_max=range_max, negatives=negatives, relative_margin=margin,
                          batch_size=batch_size, query_instruction=query_instruction,
                          no_query_instruction=no_query_instruction, use_faiss=faiss, seed=seed)
    summary = run_mine(dataset, output, model, options)
    print_table("mine", [
        ("queries", summary.queries),
        ("passages", summary.corpus),
        ("search", summary.backend),
        ("rank window", f"{summary.window[0]}..{summary.window[1]}"),
        ("negatives per query", summary.negatives_per_query),
        ("filled at random", summary.filled_at_random),
        ("output", summary.output_path),
    ])


def main() -> None:
    try:
        app()
    except WMEmbError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        console.print("interrupted; rerun the same command to resume where supported")
        sys.exit(130)


if __name__ == "__main__":
    main()
