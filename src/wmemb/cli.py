"""The `wmemb` command line: one subcommand per stage, plus the pipeline.

User errors (`WMEmbError`) print one line on stderr and exit with status 2; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from wmemb.corpus.split import SplitOptions
from wmemb.errors import WMEmbError
from wmemb.generate.prepare import PrepareOptions
from wmemb.io import check_output_file, read_json, reject_overwriting_inputs
from wmemb.settings import SETTINGS, PipelineConfig, Setting, StageName, shared_fields
from wmemb.train.finetune import FinetuneOptions
from wmemb.train.mine import MineOptions
from wmemb.vocab.suggest import SuggestOptions

Command = TypeVar("Command", bound=Callable[..., Any])


class Interrupted(Exception):
    """Ctrl-C, carried past typer (which would turn it into a silent exit 130) to `main`."""


class _Commands(TyperGroup):
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            message = str(exc) or (
                "interrupted; files already written are complete; run the command again to continue "
                "(prepare reuses its reply cache, finetune continues with --resume)"
            )
            raise Interrupted(message) from None


app = typer.Typer(
    name="wmemb",
    cls=_Commands,
    help="Adapt BGE-family embedding models to your domain: split -> prepare -> finetune -> expand -> evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
console = Console(stderr=True)
DATASET_HELP = (
    "llama_index *_dataset.json, FlagEmbedding .jsonl, or a BEIR folder (corpus.jsonl, queries.jsonl, qrels/)."
)


@app.callback()
def _configure(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Warnings and errors only.")] = False,
) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(
        level=level,
        format="%(message)s",
        datefmt="[%X]",
        handlers=[RichHandler(console=console, show_path=False, rich_tracebacks=False)],
        force=True,
    )
    for noisy in (
        "httpx",
        "httpcore",
        "urllib3",
        "filelock",
        "huggingface_hub",
        "sentence_transformers",
        "transformers",
        "jieba",
    ):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def print_table(title: str, rows: list[tuple[str, object]]) -> None:
    """A two-column summary table on stderr (stdout stays free for machine-readable output)."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, str(value))
    console.print(table)


def print_rows(title: str, headers: list[str], rows: list[list[str]]) -> None:
    """A table with a header row on stderr."""
    table = Table(title=title, title_justify="left")
    for index, header in enumerate(headers):
        table.add_column(header, justify="left" if index == 0 else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)


def setting_options(*, exclude: tuple[str, ...] = ()) -> Callable[[Command], Command]:
    """Give a command that takes `**settings` one typed flag per pipeline setting (declared in settings.py)."""

    def decorate(command: Command) -> Command:
        signature = inspect.signature(command, eval_str=True)
        fixed = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        flags = [
            _setting_parameter(
                spec,
                spec.name,
                spec.flag,
                spec.describe(with_range=True),
                spec.default,
                f"{spec.stage.capitalize()} settings",
            )
            for spec in SETTINGS.values()
            if spec.name not in exclude
        ]
        command.__signature__ = signature.replace(parameters=fixed + flags)  # type: ignore[attr-defined]
        return command

    return decorate


def stage_flags(options_class: type, **flags: Any) -> Callable[[Command], Command]:
    """Give a stage command one flag per field of its options class, and call it with `options`, the options object
    those flags make.

    A field that takes a setting (declared with settings.shared) gets the flag that setting declares: type, default,
    help, range and choices, shown as `wmemb run` shows them. `flags` give the stage command's own fields their flags
    (field name -> typer.Option; the default is the field's). A field in neither is not a flag."""
    fields = {spec.name: spec for spec in dataclasses.fields(options_class)}
    taken = shared_fields(options_class)
    unknown = sorted(set(flags) - set(fields))
    if unknown:
        raise TypeError(f"stage_flags: {options_class.__name__} has no field {', '.join(unknown)}")
    doubled = sorted(set(flags) & set(taken))
    if doubled:
        raise TypeError(f"stage_flags: {', '.join(doubled)} take(s) the flag of a setting (settings.shared)")
    types = typing.get_type_hints(options_class)
    parameters = [
        _setting_parameter(taken[name].setting, name, taken[name].flag, taken[name].help, _default(spec))
        if name in taken
        else inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[types[name], flags[name]], default=_default(spec)
        )
        for name, spec in fields.items()
        if name in taken or name in flags
    ]

    def decorate(command: Command) -> Command:
        signature = inspect.signature(command, eval_str=True)
        own = [p for p in signature.parameters.values() if p.name != "options"]
        clash = sorted({p.name for p in own} & {p.name for p in parameters})
        if clash or "options" not in signature.parameters:
            raise TypeError(f"stage_flags: {command.__name__} takes `options`, and no parameter of a field ({clash})")

        @functools.wraps(command)
        def with_options(**values: Any) -> Any:
            options = options_class(**{p.name: values.pop(p.name) for p in parameters})
            return command(**values, options=options)

        with_options.__signature__ = signature.replace(parameters=own + parameters)  # type: ignore[attr-defined]
        return typing.cast(Command, with_options)

    return decorate


def _default(spec: dataclasses.Field) -> Any:
    return spec.default_factory() if spec.default_factory is not dataclasses.MISSING else spec.default


def _one_of(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value not in choices:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(map(repr, choices))}.")
        return value

    return parse


def _setting_parameter(
    spec: Setting, name: str, flag: str, help: str, default: Any, panel: str | None = None
) -> inspect.Parameter:
    """`--chunk-tokens INTEGER`, `--corpus TEXT` (repeatable), `--mine/--no-mine`, `--llm [auto|openai|...]`: the
    parameter `name` that a setting's flag sets (`wmemb prepare --model` sets `model`, which takes llm_model)."""
    # typer takes a Literal as choices, but not a list of Literal: that is a list of str, each item checked on parsing
    listed_choices = spec.is_list and bool(spec.choices)
    option = typer.Option(
        f"{flag}/--no-{flag[2:]}" if spec.type is bool else flag,
        help=help,
        rich_help_panel=panel,
        show_default=default not in (None, []),
        parser=_one_of(spec.choices) if listed_choices else None,
        metavar=f"[{'|'.join(spec.choices)}]" if listed_choices else None,
    )
    annotation = list[str] if listed_choices else spec.type
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[annotation, option], default=default
    )


@app.command()
@stage_flags(SplitOptions)
def split(
    inputs: Annotated[
        list[Path], typer.Argument(help="Files (.txt .md .html .pdf) or folders to read.", show_default=False)
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the node files.")],
    model: Annotated[
        str | None,
        typer.Option(help="Model whose tokenizer measures passages (folder or hub id); default: packaged MiniLM."),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Output file stem; default: the first input's name.")] = None,
    *,
    options: SplitOptions,
) -> None:
    """Cut documents into sentence-aligned passages and divide them into train and validation sets."""
    from wmemb.corpus import split_corpus

    summary = split_corpus(inputs, output, model=model, options=options, name=name)
    print_table(
        "split",
        [
            ("files read", summary.files),
            ("files skipped", len(summary.skipped_files)),
            ("sentences", summary.sentences),
            ("long sentences cut (kept)", summary.long_sentences_cut),
            ("passages", f"{summary.passages} (train {summary.train}, val {summary.val})"),
            ("tokens", f"{summary.tokens_total} total, max {summary.tokens_max} of {summary.chunk_tokens}"),
            ("duplicates removed", f"{summary.duplicates_removed} ({summary.duplicate_chars} chars)"),
            ("short fragments removed", f"{summary.short_removed} ({summary.short_chars} chars)"),
            (
                "PDF headers/page numbers removed",
                f"{summary.boilerplate_lines_removed} lines ({summary.boilerplate_chars} chars)",
            ),
            ("train nodes", summary.train_path),
            ("val nodes", summary.val_path),
        ],
    )


@app.command()
@stage_flags(
    PrepareOptions,
    embed_model=typer.Option(help="Embedding model of --filter-topk; default: packaged MiniLM."),
    max_retries=typer.Option(help="Retries per request on 429/5xx/timeouts (exponential backoff with jitter)."),
    timeout=typer.Option(help="Seconds to wait for one reply."),
    json_mode=typer.Option("--json-mode", help="Ask for a JSON reply (servers that support it enforce it)."),
)
def prepare(
    train_nodes: Annotated[
        Path, typer.Argument(help="Training node file from `split` (*_train_nodes.jsonl).", show_default=False)
    ],
    val_nodes: Annotated[
        Path, typer.Argument(help="Validation node file from `split` (*_val_nodes.jsonl).", show_default=False)
    ],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="Folder for the datasets (and the reply caches that make reruns resume)."),
    ],
    *,
    options: PrepareOptions,
) -> None:
    """Have an LLM write the questions each passage answers; write llama_index QA datasets. Every passage of
    a node file stays in its dataset's corpus: the ones not asked about are distractors for retrieval."""
    from wmemb.generate import prepare_datasets

    summary = prepare_datasets(train_nodes, val_nodes, output, options)
    rows: list[tuple[str, object]] = [("backend", f"{summary.backend} ({summary.model})")]
    for result in (summary.train, summary.val):
        dropped = ", ".join(f"{reason} {count}" for reason, count in sorted(result.dropped.items())) or "none"
        per_language = ", ".join(
            f"{language} {counts['queries']} from {counts['passages']} passages"
            for language, counts in result.by_language.items()
        )
        rows += [
            (
                f"{result.split} passages",
                f"{result.passages} asked of {result.corpus_passages} ({result.reused} from cache, "
                f"{result.generated} generated, {result.failed} failed); {result.passages_with_queries} kept questions",
            ),
            (f"{result.split} queries", f"{result.queries} ({per_language})"),
            *(
                (
                    f"{result.split} {style}",
                    f"{counts['queries']} kept from {counts['passages']} passages; dropped: "
                    + (", ".join(f"{reason} {n}" for reason, n in sorted(counts["dropped"].items())) or "none"),
                )
                for style, counts in result.by_style.items()
            ),
            (f"{result.split} dropped", f"{dropped} (lines in {result.dropped_path})"),
            (f"{result.split} tokens", f"{result.prompt_tokens} prompt, {result.completion_tokens} completion"),
            (f"{result.split} dataset", result.dataset_path),
        ]
    rows.append(("time", f"{summary.seconds:.1f} s"))
    if summary.failures_path:
        rows.append(("failed passages", f"{summary.failures_path} (rerun to retry them)"))
    print_table("prepare", rows)


@app.command("import-dataset")
def import_dataset(
    source: Annotated[
        Path,
        typer.Argument(
            help="A QA dataset JSON written by llama_index (generate_qa_embedding_pairs).", show_default=False
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write it as readable UTF-8 JSON.")],
) -> None:
    """Check a llama_index EmbeddingQAFinetuneDataset file and save it in wmemb's readable form."""
    from wmemb.generate import import_llama_index_dataset

    check_output_file(output)
    reject_overwriting_inputs([output], [("SOURCE", source)])
    dataset = import_llama_index_dataset(source, output)
    print_table(
        "import-dataset", [("queries", len(dataset.queries)), ("passages", len(dataset.corpus)), ("written", output)]
    )


@app.command()
@stage_flags(
    MineOptions,
    range_min=typer.Option(help="Skip the top ranks (likely unlabelled answers)."),
    range_max=typer.Option(help="Sample negatives from ranks below this."),
    negatives=typer.Option(help="Hard negatives per query."),
    relative_margin=typer.Option("--margin", help="A negative must score below (1 - margin) x the positive's score."),
    batch_size=typer.Option(help="Texts encoded per batch."),
    query_instruction=typer.Option(help="Instruction prepended to queries; default: the model's own."),
    no_query_instruction=typer.Option("--no-query-instruction", help="Search without a query instruction."),
    use_faiss=typer.Option(
        "--faiss/--no-faiss", help="Search with faiss; default: when installed.", show_default=False
    ),
    seed=typer.Option(help="Seed of the negative sampling."),
)
def mine(
    dataset: Annotated[Path, typer.Argument(help=DATASET_HELP, show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="FlagEmbedding JSONL to write.", show_default=False)],
    model: Annotated[str | None, typer.Option(help="Model that ranks the passages; default: packaged MiniLM.")] = None,
    *,
    options: MineOptions,
) -> None:
    """Mine hard negatives for each query from a rank window that skips the top; writes FlagEmbedding JSONL."""
    from wmemb.train import mine as run_mine

    summary = run_mine(dataset, output, model, options)
    print_table(
        "mine",
        [
            ("queries", summary.queries),
            ("passages", summary.corpus),
            ("search", summary.backend),
            ("rank window", f"{summary.window[0]}..{summary.window[1]}"),
            ("negatives per query", summary.negatives_per_query),
            ("filled at random", summary.filled_at_random),
            ("output", summary.output_path),
        ],
    )


@app.command()
@stage_flags(
    FinetuneOptions,
    mini_batch_size=typer.Option(help="With --loss cached: pairs encoded at once."),
    query_instruction=typer.Option(help="Instruction prepended to queries; default: the model's own."),
    no_query_instruction=typer.Option("--no-query-instruction", help="Train and save without a query instruction."),
    early_stopping=typer.Option(help="Stop after N epochs without a better val NDCG@10."),
    resume=typer.Option("--resume", help="Continue an interrupted run from its last checkpoint."),
    merge_with_base=typer.Option(help="Average with the base model, W = base weight in (0, 1)."),
    overwrite=typer.Option("--overwrite", help="Replace an existing OUTPUT folder."),
)
def finetune(
    model: Annotated[str, typer.Argument(help="Base model: folder, hub id or 'minilm'.", show_default=False)],
    output: Annotated[
        Path, typer.Argument(help="Folder for the fine-tuned model (may be MODEL itself).", show_default=False)
    ],
    train_dataset: Annotated[Path, typer.Argument(help=DATASET_HELP, show_default=False)],
    val: Annotated[
        Path | None, typer.Option(help="Validation dataset (same formats); the best epoch on it is saved.")
    ] = None,
    *,
    options: FinetuneOptions,
) -> None:
    """Contrastive fine-tuning (BGE recipe), keeping the best epoch on --val; works under torchrun."""
    from wmemb.train import finetune as run_finetune

    summary = run_finetune(model, output, train_dataset, val, options)
    if not summary.wrote_output:  # a non-main torchrun process
        return
    best = summary.best_metrics or {}
    base = summary.epochs[0].metrics if summary.epochs and summary.epochs[0].epoch == 0 else {}
    print_table(
        "finetune",
        [
            ("training pairs", summary.train_pairs),
            (
                "validation",
                f"{summary.val_queries} queries, {summary.val_corpus} passages" if summary.val_queries else "none",
            ),
            (
                "epochs",
                ", ".join(f"{e.epoch}: loss {e.train_loss}, ndcg@10 {e.metrics.get('ndcg@10')}" for e in summary.epochs)
                or "-",
            ),
            ("best epoch", summary.best_epoch if summary.best_epoch is not None else "last (no validation)"),
            ("val ndcg@10 base -> best", f"{base.get('ndcg@10')} -> {best.get('ndcg@10')}" if best else "-"),
            (
                "merged with base",
                f"ndcg@10 {summary.merged_metrics.get('ndcg@10')}" if summary.merged_metrics else "no",
            ),
            ("samples/s", f"{summary.train_samples_per_second:.1f}"),
            ("model", summary.output_path),
        ],
    )


vocab_app = typer.Typer(help="Find domain-term candidates for `expand`.", no_args_is_help=True)
app.add_typer(vocab_app, name="vocab")


@vocab_app.command("suggest")
@stage_flags(
    SuggestOptions,
    min_freq=typer.Option(help="Least number of occurrences in the corpus."),
    use_jieba=typer.Option(
        "--jieba/--no-jieba", help="Seed Chinese candidates with the words jieba's dictionary segments."
    ),
    use_sentencepiece=typer.Option(
        "--sentencepiece",
        help="Also seed Chinese candidates with pieces of a sentencepiece unigram model trained on the corpus.",
    ),
)
def vocab_suggest(
    corpus: Annotated[
        list[Path],
        typer.Argument(help="Corpus files/folders (.txt .md .html .pdf) or node JSONL files.", show_default=False),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="TSV to write: term, score and the figures it comes from (tokens saved, specificity, rates, ...).",
        ),
    ],
    model: Annotated[
        str | None,
        typer.Option(help="Model whose tokenizer counts pieces (folder or hub id); default: packaged MiniLM."),
    ] = None,
    *,
    options: SuggestOptions,
) -> None:
    """Rank terms by tokens saved x specificity^4 (how much more frequent here than in general language)."""
    from wmemb.vocab import suggest_terms, write_terms_tsv

    check_output_file(output)
    reject_overwriting_inputs([output], [("CORPUS", path) for path in corpus])
    result = suggest_terms(corpus, model, options)
    write_terms_tsv(output, result.candidates)
    print_table(
        "vocab suggest",
        [
            ("sentences", result.sentences),
            ("candidates written", len(result.candidates)),
            ("best (specificity)", ", ".join(f"{c.term} ({c.specificity:.1f})" for c in result.candidates[:10])),
            ("dropped", "; ".join(f"{count} {reason}" for reason, count in result.dropped.most_common()) or "none"),
            ("terms file", f"{output} (edit it, then: wmemb expand MODEL OUT --words-file {output})"),
        ],
    )


@app.command(context_settings={"allow_extra_args": True})
def expand(
    ctx: typer.Context,
    model: Annotated[
        str,
        typer.Argument(
            help="Model to expand: a sentence-transformers or plain transformers BERT folder, a hub id, or 'minilm'.",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path,
        typer.Argument(
            help="Folder for the expanded model (may be MODEL itself: replaced safely).", show_default=False
        ),
    ],
    words: Annotated[
        list[str] | None,
        typer.Option("--words", help="Terms to add: --words 芽孢杆菌 革兰氏阳性菌 peptidoglycan", show_default=False),
    ] = None,
    words_file: Annotated[
        Path | None,
        typer.Option(
            "--words-file",
            help="One term per line (# comments), or a TSV from `wmemb vocab suggest`.",
            show_default=False,
        ),
    ] = None,
    init: Annotated[
        str, typer.Option(help="New embedding rows: mean-subtoken (mean of the term's old pieces), hf-default, random.")
    ] = "mean-subtoken",
    overwrite: Annotated[bool, typer.Option(help="Replace an existing OUTPUT folder.")] = False,
    report_texts: Annotated[
        Path | None,
        typer.Option(
            help="Node JSONL whose passages are embedded before/after (bit-identity, mean cosine).", show_default=False
        ),
    ] = None,
) -> None:
    """Add domain terms to the tokenizer and embedding matrix; save a complete sentence-transformers model."""
    from wmemb.vocab import expand_model, read_word_file
    from wmemb.vocab.expand import overlap_summary

    if ctx.args and words is None:
        raise WMEmbError(f"unexpected argument(s) {' '.join(ctx.args)}; terms go after --words")
    if (words is None) == (words_file is None):
        raise WMEmbError("pass the terms with either --words w1 w2 ... or --words-file FILE")
    reject_overwriting_inputs([output], [("--words-file", words_file)])
    if words is not None:
        terms = [*words, *ctx.args]
    else:
        assert words_file is not None  # exactly one of the two, checked above
        terms = read_word_file(words_file)
    try:
        report = expand_model(model, output, terms, init=init, overwrite=overwrite, report_texts=report_texts)
    except KeyboardInterrupt:
        # the model is written into a hidden folder that replaces OUTPUT only once complete (io.atomic_dir)
        raise KeyboardInterrupt(
            f"interrupted; expand changed nothing: {output} is as it was (the partial copy was removed); run the "
            "command again to expand from the start (expand keeps no cache and has no --resume)"
        ) from None
    for term in report.terms:
        if not term.added:
            console.print(f"  skipped {term.term}: {term.reason}", highlight=False)
        elif not term.single_token:
            console.print(
                f"  [yellow]not one token[/] {term.term}: {[s for s, ok in term.probes.items() if not ok]}",
                highlight=False,
            )
    cosine = "n/a" if report.mean_cosine is None else f"{report.mean_cosine:.4f}"
    print_table(
        "expand",
        [
            (
                "added",
                f"{len(report.added)} ({', '.join(t.term for t in report.added[:8])}"
                f"{' ...' if len(report.added) > 8 else ''})",
            ),
            ("skipped", len(report.skipped)),
            ("single token in sentences", f"{len(report.added) - len(report.not_single_token)} of {len(report.added)}"),
            ("overlapping pairs", overlap_summary(report.overlaps)),
            ("init", report.init),
            ("modules added", ", ".join(report.modules_added) or "none (kept the source's)"),
            (
                "texts without new terms",
                f"{report.unaffected_texts}, bit-identical: {'yes' if report.unaffected_identical else 'NO'}",
            ),
            ("texts with new terms", f"{report.affected_texts}, mean cosine old/new {cosine}"),
            ("model", report.output),
        ],
    )


@app.command()
def evaluate(
    dataset: Annotated[
        Path,
        typer.Option(
            help=DATASET_HELP,
            show_default=False,
        ),
    ],
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help="Model to evaluate (folder, hub id or 'minilm'); repeat to compare.",
            show_default=False,
        ),
    ] = None,  # none with --baseline: the baseline alone
    k: Annotated[
        str,
        typer.Option("--k", help="Cut-offs for hit rate and recall, comma-separated."),
    ] = ",".join(map(str, SETTINGS["ks"].default)),
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Folder for metrics.json, metrics.md and metrics.svg.")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Texts encoded per batch.")] = 32,
    split: Annotated[str, typer.Option(help="Which qrels/<split>.tsv of a BEIR folder to use.")] = "test",
    baseline: Annotated[
        list[str] | None,
        typer.Option(
            help="'bm25': also score BM25 and, per model, hybrid(<model>): the two fused by reciprocal rank.",
            show_default=False,
        ),
    ] = None,
    dims: Annotated[
        str | None,
        typer.Option(
            "--dims",
            help="Also score each model's vectors cut to these sizes (comma-separated, e.g. 64,128; Matryoshka).",
            show_default=False,
        ),
    ] = None,
    throughput: Annotated[
        bool,
        typer.Option(
            "--throughput",
            help="Also export each model to ONNX and ONNX int8 (temporarily) and show texts/s on this CPU and "
            "NDCG@10 of each, with what to serve (needs wmemb\\[serve]).",
        ),
    ] = False,
) -> None:
    """Compare models on the same queries: hit rate@k, MRR@10, NDCG@10, recall@k, MAP@100."""
    # imports torch: only when the command runs
    from wmemb.evaluate import evaluate_models, metrics_table
    from wmemb.evaluate.serving import (
        SIZE_HEADERS,
        THROUGHPUT_HEADERS,
        size_rows,
        throughput_check,
        throughput_rows,
        timing_note,
    )

    ks = [part.strip() for part in k.split(",") if part.strip()]
    sizes = _sizes(dims or "")
    if throughput and not model:
        raise WMEmbError("--throughput needs a model to export and time; pass --model")
    result = evaluate_models(
        model or [],
        dataset,
        ks=ks,
        out_dir=output,
        batch_size=batch_size,
        split=split,
        baselines=baseline or [],
        dims=sizes,
    )
    console.print(metrics_table(result))
    if result.truncated:
        print_rows("NDCG@10 against vector size", SIZE_HEADERS, size_rows(result))
    for name in model or [] if throughput else []:
        speed = throughput_check(name, dataset, batch_size=batch_size, split=split)
        print_rows(f"serving {name} on this CPU", THROUGHPUT_HEADERS, throughput_rows(speed))
        console.print(f"{speed.recommendation()}\n{timing_note(speed)}", highlight=False, soft_wrap=True)
    for path in result.reports.values():
        console.print(f"wrote {path}", highlight=False, soft_wrap=True)  # a path stays one copyable line


def _sizes(text: str) -> list[int]:
    """`--dims 64,128` as [64, 128] (checked further by evaluate)."""
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise WMEmbError(f"--dims {text}: sizes must be whole numbers such as 64,128") from None


@app.command()
def export(
    model: Annotated[
        str,
        typer.Argument(help="Model to export: a sentence-transformers folder, hub id or 'minilm'.", show_default=False),
    ],
    output: Annotated[Path, typer.Argument(help="Folder for the exported model.", show_default=False)],
    format: Annotated[
        str,
        typer.Option("--format", help="onnx (ONNX Runtime) or openvino."),
    ] = SETTINGS["export_format"].default,
    quantize: Annotated[
        str | None,
        typer.Option(
            help="int8: smaller and faster on CPUs, embeddings slightly off; default: fp32.", show_default=False
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing OUTPUT folder.")] = False,
) -> None:
    """Export a model for serving with ONNX Runtime or OpenVINO (needs `pip install 'wmemb[serve]'`); its query
    instruction, pooling and normalisation come along, and `wmemb evaluate -m OUTPUT` scores it."""
    # imports torch and the exporters: only when the command runs
    from wmemb.export import export_model

    result = export_model(model, output, format=format, quantize=quantize, overwrite=overwrite)
    print_table(
        "export",
        [
            ("format", f"{result.format} {result.quantize or 'fp32'}"),
            ("model file", result.file_name),
            ("probe texts, lowest cosine to torch", f"{result.min_cosine:.4f}"),
            ("size", f"{result.size_bytes / 1e6:.1f} MB"),
            ("time", f"{result.seconds:.1f} s"),
            ("model", result.output),
        ],
    )


def _given_settings(ctx: typer.Context, values: dict[str, Any]) -> dict[str, Any]:
    """The settings given as flags; they win over the config file's."""
    return {
        name: value
        for name, value in values.items()
        if (source := ctx.get_parameter_source(name)) is not None and source.name == "COMMANDLINE"
    }


def run_config(args: list[str]) -> PipelineConfig:
    """The settings `wmemb run ARGS` would run with (config file and flags), parsed as the command does."""
    command = typer.main.get_command(app).commands["run"]  # type: ignore[attr-defined]
    ctx = command.make_context("wmemb run", list(args))
    params = dict(ctx.params)
    config = params.pop("config", None)
    params.pop("from_stage", None)
    return PipelineConfig.load(config, _given_settings(ctx, params))


ConfigArgument = Annotated[
    Path | None,
    typer.Argument(
        metavar="CONFIG", help="TOML config; every key is also a flag (see below); flags win.", show_default=False
    ),
]


@app.command()
@setting_options()
def run(
    ctx: typer.Context,
    config: ConfigArgument = None,
    from_stage: Annotated[
        StageName | None,
        typer.Option("--from", help="Rerun from this stage on, whatever changed.", show_default=False),
    ] = None,
    **settings: Any,
) -> None:
    """Run the whole pipeline in one working folder: split -> prepare -> \\[mine] -> finetune -> \\[expand] ->
    evaluate -> \\[export].

    Settings come from CONFIG and/or flags, e.g. [bold]wmemb run --corpus book.txt --model BAAI/bge-small-zh-v1.5
    --llm ollama[/]. Stages whose inputs and settings did not change are skipped; an interrupted stage resumes.
    """
    from wmemb.pipeline import Pipeline  # imports every stage: only for the commands that run it

    pipeline = Pipeline(PipelineConfig.load(config, _given_settings(ctx, settings)))
    records = pipeline.run(from_stage=from_stage)
    print_table(
        "run",
        [
            (
                r.stage,
                f"{r.action} ({r.reason})"
                + (f", {r.seconds:.0f} s, peak RSS {r.peak_rss_mb:.0f} MB" if r.action == "ran" else ""),
            )
            for r in records
        ],
    )
    metrics = pipeline.paths.report / "metrics.json"
    if metrics.is_file():
        # imports torch: only when a run wrote metrics
        from wmemb.evaluate import EvaluationResult, metrics_table

        console.print(metrics_table(EvaluationResult.from_json(read_json(metrics))))
        # the evaluate stage's own words: its choice used per-query scores that metrics.json does not keep
        evaluated = pipeline.summaries().evaluate()
        final = evaluated.final if evaluated else None
        if final and final.verdict:  # absent in a working folder whose evaluate ran before wmemb kept it
            console.print(final.verdict, highlight=False, soft_wrap=True)
        console.print(f"report: {pipeline.paths.report / 'report.md'}")


experiment_app = typer.Typer(
    help="Experiments that answer questions about the method, on your data.", no_args_is_help=True
)
app.add_typer(experiment_app, name="experiment")


@experiment_app.command("expand-order")
@setting_options(exclude=("epochs",))
def expand_order(
    ctx: typer.Context,
    config: ConfigArgument = None,
    epochs: Annotated[
        int, typer.Option(min=1, help="Epochs of fine-tuning per arm (more than 2 shows overfitting).")
    ] = SETTINGS["epochs"].default,
    **settings: Any,
) -> None:
    """Base, fine-tune, expand->fine-tune, fine-tune(2)->expand->fine-tune and its control fine-tune(2)->fine-tune,
    with val metrics per epoch."""
    from wmemb.experiment import run_expand_order  # imports every stage: only for the commands that run it

    result = run_expand_order(PipelineConfig.load(config, _given_settings(ctx, settings)), epochs=epochs)
    rows: list[tuple[str, object]] = [
        (arm.name, f"best ndcg@10 {arm.best[1].get('ndcg@10', float('nan')):.4f} at epoch {arm.best[0]}")
        for arm in result.arms
    ]
    print_table("expand-order", [*rows, ("report", result.files["markdown"])])


def main() -> None:
    try:
        app()
    except WMEmbError as exc:
        # escaped: a message may name `pip install 'wmemb[serve]'`, which rich would take for markup
        console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except Interrupted as exc:
        console.print(f"[bold yellow]{exc}[/]", highlight=False, soft_wrap=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
