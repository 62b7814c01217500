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
