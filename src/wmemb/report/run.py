"""The run report: report/report.html (one self-contained page) and report/report.md, written at the
end of `wmemb run` from what the run left on disk and the evaluation it just did.

In reading order: the verdict (which model won on the validation questions, by how much, how sure),
the training curves, the data funnel (passages -> replies -> kept questions, with what was dropped
and why), the queries that changed most, the added vocabulary, and how to use the model.
Whatever a stage did not record is said to be "not recorded", never guessed.
"""

from __future__ import annotations

import json
import random
import shlex
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wmemb.evaluate.bootstrap import Difference
from wmemb.evaluate.choice import (
    JUDGE_AGREEMENT,
    LEXICAL_NOTE,
    TEMPLATE_FILE,
    Judge,
    Judgement,
    compare,
    interval_text,
)
from wmemb.evaluate.evaluate import EvaluationResult, ModelScores, QueryResult
from wmemb.evaluate.report import REPORT_FILES, metrics_chart, metrics_comparison
from wmemb.evaluate.results import BM25_LABEL, hybrid_label
from wmemb.evaluate.serving import ServingResult
from wmemb.generate.reasons import SET_ASIDE_REASONS, DropReason
from wmemb.io import atomic_write, read_json, read_jsonl, write_json
from wmemb.records import QADataset
from wmemb.report.charts import Interval, Line, hbar_chart, interval_chart, line_chart
from wmemb.report.document import (
    CHECK_MARK,
    Block,
    Chart,
    Code,
    Heading,
    Section,
    Table,
    Text,
    render_html,
    render_markdown,
)
from wmemb.report.serving import serving_section
from wmemb.text import main_language
from wmemb.train.finetune import BEST_METRIC, METRICS_FILE
from wmemb.vocab.coverage import term_coverage, uncovered_summary

REPORT_FILES_RUN = {"html": "report.html", "markdown": "report.md", "summary": "summary.json"}
CHART_FILES = {"verdict": "verdict.svg", "training": "training.svg", "funnel": "funnel.svg", "terms": "terms.svg"}
SHOWN_QUERIES = 5  # gained most / lost most
SAMPLES_PER_GROUP = 3  # kept questions per split and language, dropped ones per reason
SNIPPET_CHARS = 220
LANGUAGE_NAMES = {"zh": "中文 (zh)", "en": "English (en)"}
DROP_REASONS = {reason.value: reason.description for reason in DropReason}


@dataclass(frozen=True)
class RunFiles:
    """Where one run's results lie. The report reads them all and writes only into `report_dir`."""

    name: str
    state: Path  # state.json: each stage's recorded summary
    data_dir: Path  # prepare's datasets, reply caches, failure and dropped-question lists
    train_dataset: Path
    val_dataset: Path
    finetuned: Path
    expanded: Path | None  # None when vocabulary expansion was off
    report_dir: Path
    final: Path | None = None  # the link the pipeline points at the chosen model (choose_final)
    continued: Path | None = None  # the control arm; None when it was off
    exported: Path | None = None  # where the export stage writes the final model (after the report); None: off


@dataclass(frozen=True)
class RunSettings:
    values: dict[str, Any]  # every setting of the run
    defaults: dict[str, Any]  # their defaults: the reproducing command names only what differs


def write_run_report(
    files: RunFiles, settings: RunSettings, judgement: Judgement, serving: ServingResult | None = None
) -> dict[str, Path]:
    """Build every section, then write report.html, report.md, their SVG charts and summary.json."""
    result = judgement.validation
    state = read_json(files.state) if files.state.is_file() else {}
    val = QADataset.load(files.val_dataset)
    train = QADataset.load(files.train_dataset)
    funnel = Funnel.read(files, state, {"train": train, "val": val})
    charts: list[Chart] = []
    sections = [
        verdict_section(judgement, state, charts, files.final),
        training_section(files, charts),
        funnel.section(charts),
        per_query_section(result, val),
        vocabulary_section(
            state.get("expand", {}).get("summary", {}).get("expand") if files.expanded else None, train, charts
        ),
        serving_section(serving, charts),
        usage_section(judgement, val, settings, files.exported),
    ]
    title = f"wmemb report: {files.name}"
    out = files.report_dir
    paths = {kind: out / name for kind, name in REPORT_FILES_RUN.items()}
    for chart in charts:
        with atomic_write(out / chart.file) as handle:
            handle.write(chart.svg)
    write_json(
        paths["summary"],
        {"final_model": judgement.choice.model.label, "data": funnel.summary(), "settings": settings.values},
    )
    questions_template(val).save(out / TEMPLATE_FILE)
    with atomic_write(paths["markdown"]) as handle:
        handle.write(render_markdown(title, sections))
    with atomic_write(paths["html"]) as handle:
        handle.write(render_html(title, sections))
    return paths


# --- 1. verdict ------------------------------------------------------------------------------------


def headline(base: ModelScores, final: ModelScores, difference: Difference | None, judge: Judge) -> str:
    """The verdict in one or two plain sentences, on the deciding judge's scores."""
    before, after = base.metrics[BEST_METRIC], final.metrics[BEST_METRIC]
    scores = f"NDCG@10 {before:.3f} → {after:.3f} on {judge.name}"
    if difference is None:
        leader = final.label if after > before else base.label
        return f"**The {leader} model scores higher**: {scores} (per-query scores missing: no interval)."
    if difference.low == difference.high == 0:
        return (
            f"**No difference**: {scores}; both models give each of the {difference.queries} {judge.queries} "
            "the same NDCG@10."
        )
    if difference.low > 0:
        return f"**The {final.label} model wins**: {scores} ({interval_text(difference, judge.queries)})."
    if difference.high < 0:
        return (
            f"**The {base.label} model wins: the {final.label} model is worse**: {scores} "
            f"({interval_text(difference, judge.queries)}). Check the questions in the data funnel below, or train "
            "fewer epochs or with a lower learning rate."
        )
    return (
        f"**No clear winner**: {scores} ({interval_text(difference, judge.queries)}). The interval includes zero: "
        f"on these queries the difference is within noise, so this run does not show that {final.label} is better."
    )


def _difference_cells(difference: Difference | None) -> list[str]:
    """Table cells for a paired difference: mean, interval, and what it means."""
    if difference is None:
        return ["", "", _reading(difference)]
    return [f"{difference.mean:+.4f}", f"{difference.low:+.4f} to {difference.high:+.4f}", _reading(difference)]


def _reading(difference: Difference | None) -> str:
    if difference is None:
        return "no per-query scores"
    if difference.low == difference.high == 0:
        return "identical"
    return "better" if difference.low > 0 else "worse" if difference.high < 0 else "within noise"


def comparison_pairs(result: EvaluationResult, final: str) -> list[tuple[str, ModelScores, ModelScores]]:
    """(label, first, second) for the verdict table: each trained model against the base, then what each step
    of expansion added (the expanded model against the fine-tuned one and against the control arm), then the
    shipped model `final` against BM25 and BM25's addition to it (hybrid), where the baselines were scored."""
    models = result.without_baselines().models
    base = models[0]
    pairs = [(f"{model.label} − base", base, model) for model in models[1:]]
    by_label = {model.label: model for model in result.models}
    steps = (
        ("finetuned", "expanded", "expanded − finetuned"),
        ("continued", "expanded", "expanded − continued (what the new terms add)"),
        (BM25_LABEL, final, f"{final} (shipped) − BM25"),
        (final, hybrid_label(final), f"{hybrid_label(final)} − {final} (what BM25 adds)"),
    )
    for first, second, label in steps:
        if first in by_label and second in by_label:
            pairs.append((label, by_label[first], by_label[second]))
    return pairs


def verdict_section(judgement: Judgement, state: dict, charts: list[Chart], link: Path | None) -> Section:
    choice = judgement.choice
    base, trained = choice.base, choice.result.models[1:]
    # the headline weighs what the run ships against the base: the chosen model, or (when the base is
    # kept) the best trained model it was kept over
    chosen = choice.model
    challenger = chosen if chosen is not base or not trained else max(trained, key=lambda m: m.metrics[BEST_METRIC])
    blocks: list[Block] = [
        Text(headline(base, challenger, compare(base, challenger), choice.judge)),
        Text("**" + " ".join(judgement.sentences(link)) + "**"),
    ]
    lexical = judgement.baseline_sentences()
    if lexical:
        blocks.append(Text(" ".join(lexical) + f" {LEXICAL_NOTE}"))
    rows, intervals = [], []
    for judge, result in judgement.judges():
        for label, first, second in comparison_pairs(result, chosen.label):
            difference = compare(first, second)
            rows.append(
                [
                    label,
                    judge.queries,
                    f"{first.metrics[BEST_METRIC]:.4f}",
                    f"{second.metrics[BEST_METRIC]:.4f}",
                    *_difference_cells(difference),
                ]
            )
            if difference and judge is choice.judge:
                intervals.append(Interval(label, difference.mean, difference.low, difference.high))
    if rows:
        blocks.append(
            Table(
                ["comparison", "scored on", "NDCG@10 before", "NDCG@10 after", "difference", "95% CI", "reading"],
                rows,
                "llrrrrl",
            )
        )
    if intervals:
        charts.append(
            Chart(
                CHART_FILES["verdict"],
                interval_chart(
                    f"NDCG@10 difference with 95% CI ({choice.judge.queries})",
                    intervals,
                    "difference in NDCG@10 per query",
                ),
                "NDCG@10 differences with 95% intervals",
            )
        )
        blocks.append(charts[-1])
    prepare = state.get("prepare", {}).get("summary", {})
    llm = " ".join(str(prepare[key]) for key in ("backend", "model") if prepare.get(key)) or "the LLM"
    blocks += trust_blocks(judgement, llm, challenger)
    result = judgement.validation
    charts.append(Chart(REPORT_FILES["chart"], metrics_chart(result), "all metrics per model"))
    blocks += [Heading("All metrics on the validation questions"), metrics_comparison(result), charts[-1]]
    return Section("Verdict", "verdict", blocks)


def questions_template(val: QADataset, examples: int = 3) -> QADataset:
    """Every validation passage, and a few example questions to replace with questions users asked."""
    asked = list(dict.fromkeys(doc for docs in val.relevant_docs.values() for doc in docs))[:examples]
    queries = {
        f"example-{n}": "Replace with a question a user asked that this passage answers: "
        + _snippet(val.corpus[doc], 60)
        for n, doc in enumerate(asked, 1)
    }
    relevant = {f"example-{n}": [doc] for n, doc in enumerate(asked, 1)}
    return QADataset(queries=queries, corpus=dict(val.corpus), relevant_docs=relevant)


def trust_blocks(judgement: Judgement, llm: str, challenger: ModelScores) -> list[Block]:
    """How far to trust the verdict: who wrote the questions, what the cloze check is, how to check."""
    result, cloze = judgement.validation, judgement.cloze
    base = result.models[0]
    blocks: list[Block] = [
        Heading("How far to trust this"),
        Text(
            f"The {result.queries} validation questions (over {result.passages} passages) were written by {llm}, the "
            "LLM that wrote the training questions, about passages kept out of training, and retrieved among every "
            "validation passage. A model that learns that LLM's way of asking scores well on them whatever it does "
            f"for questions people write. {JUDGE_AGREEMENT}"
        ),
    ]
    if cloze is not None:
        blocks.append(
            Text(
                f"The cloze check holds no LLM text: one sentence of each of {cloze.queries} validation passages must "
                f"find the rest of its passage among all {cloze.passages}. A trained model ships only if it beats "
                "the base there beyond noise, or within noise there while the validation questions put it above "
                "the base beyond noise."
            )
        )
    else:
        blocks.append(
            Text(
                "No validation passage has three sentences or more, so there is no cloze check: the validation "
                "questions chose the final model."
            )
        )
    blocks.append(
        Text(
            f"The real check is 20-50 questions your users asked. Fill in `{TEMPLATE_FILE}` beside this report "
            "(it holds every validation passage; replace each example question with a real one and list the ids of "
            "the passages that answer it), then run "
            f"`wmemb evaluate --model {base.path} --model {challenger.path} --dataset {TEMPLATE_FILE}`.",
            note=True,
        )
    )
    return blocks


# --- 2. training curves ----------------------------------------------------------------------------


def training_section(files: RunFiles, charts: list[Chart]) -> Section:
    stages = [("fine-tune", files.finetuned)] + ([("expand → fine-tune", files.expanded)] if files.expanded else [])
    stages += [("control: fine-tune on", files.continued)] if files.continued else []
    lines: list[Line] = []
    rows: list[list[object]] = []
    blocks: list[Block] = []
    for stage, folder in stages:
        record_file = folder / METRICS_FILE
        if not record_file.is_file():
            blocks.append(Text(f"{stage}: per-epoch metrics not recorded ({record_file} is missing)."))
            continue
        record = read_json(record_file)
        epochs = [epoch for epoch in record.get("epochs", []) if BEST_METRIC in (epoch.get("metrics") or {})]
        best = record.get("best_epoch")
        lines.append(Line(stage, [(e["epoch"], e["metrics"][BEST_METRIC]) for e in epochs], best))
        for epoch in epochs:
            metrics = epoch["metrics"]
            loss = epoch.get("train_loss")
            rows.append(
                [
                    stage,
                    f"{epoch['epoch']}" + (" (best, saved)" if epoch["epoch"] == best else ""),
                    "" if loss is None else f"{loss:.4f}",
                    *(
                        f"{metrics[name]:.4f}" if name in metrics else ""
                        for name in ("ndcg@10", "mrr@10", "hit_rate@1")
                    ),
                ]
            )
        best_value = next((e["metrics"][BEST_METRIC] for e in epochs if e["epoch"] == best), None)
        if epochs and best_value is not None:
            settings = record.get("settings", {})
            blocks.append(
                Text(
                    f"**{stage}**: {record.get('train_pairs', '?')} training pairs, {len(epochs) - 1} epoch(s), "
                    f"learning rate {settings.get('learning_rate', '?')}, batch {settings.get('batch_size', '?')}; "
                    f"validation NDCG@10 {epochs[0]['metrics'][BEST_METRIC]:.4f} before training, best "
                    f"{best_value:.4f} at epoch {best} (the saved model)."
                )
            )
    if lines:
        charts.append(
            Chart(
                CHART_FILES["training"],
                line_chart("Validation NDCG@10 per epoch", "epoch (0 = before this stage)", "NDCG@10", lines),
                "validation NDCG@10 per epoch, best epoch ringed",
            )
        )
        blocks += [
            charts[-1],
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


# --- 3. data funnel --------------------------------------------------------------------------------


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


def _snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclass
class SplitFunnel:
    split: str
    dataset: QADataset
    summary: dict  # prepare's recorded counts for this split
    language_of: dict[str, str]  # passage id -> language
    failed: Counter  # language -> passages whose request failed
    dropped: list[dict] | None  # {"node_id", "query", "reason"}; None when prepare did not record them

    def asked_by_language(self) -> Counter:
        """Passages questions were asked for: prepare's own count (the corpus also holds the passages a
        max_*_passages cap left out, as distractors)."""
        recorded = self.summary.get("languages")
        return Counter(recorded) if recorded is not None else Counter(self.language_of.values())

    def kept_by_language(self) -> Counter:
        return Counter(self.language_of[docs[0]] for docs in self.dataset.relevant_docs.values())

    def dropped_by_language(self) -> dict[str, Counter]:
        by_language: dict[str, Counter] = {}
        for record in self.dropped or []:
            language = self.language_of.get(record.get("node_id", ""), "?")
            by_language.setdefault(language, Counter())[record.get("reason", "?")] += 1
        return by_language


@dataclass
class Funnel:
    passages_total: int | None  # passages split wrote (train + val), before any cap
    splits: list[SplitFunnel]

    @classmethod
    def read(cls, files: RunFiles, state: dict, datasets: dict[str, QADataset]) -> Funnel:
        split_summary = state.get("split", {}).get("summary", {})
        prepare = state.get("prepare", {}).get("summary", {})
        failures_file = files.data_dir / f"{files.name}_prepare_failures.jsonl"
        failures = [record for _, record in read_jsonl(failures_file)] if failures_file.is_file() else []
        splits = []
        for split, dataset in datasets.items():
            language_of: dict[str, str] = {node_id: main_language(text) for node_id, text in dataset.corpus.items()}
            failed = Counter(
                language_of.get(record.get("node_id", ""), "?") for record in failures if record.get("split") == split
            )
            dropped_file = files.data_dir / f"{files.name}_{split}_dropped.jsonl"
            dropped = [record for _, record in read_jsonl(dropped_file)] if dropped_file.is_file() else None
            splits.append(SplitFunnel(split, dataset, prepare.get(split) or {}, language_of, failed, dropped))
        return cls(split_summary.get("passages"), splits)

    def summary(self) -> dict:
        """The counts as data (summary.json)."""
        data: dict[str, Any] = {"passages": self.passages_total, "splits": {}}
        for part in self.splits:
            asked, kept, dropped = part.asked_by_language(), part.kept_by_language(), part.dropped_by_language()
            data["splits"][part.split] = {
                "passages_asked": sum(asked.values()),
                "passages_with_questions": part.dataset.passages_with_queries(),
                "failed": sum(part.failed.values()),
                "kept_questions": len(part.dataset.queries),
                "dropped": part.summary.get("dropped"),
                "by_language": {
                    language: {
                        "passages_asked": asked[language],
                        "failed": part.failed.get(language, 0),
                        "kept_questions": kept.get(language, 0),
                        "dropped": dict(dropped.get(language, {})) if part.dropped is not None else None,
                    }
                    for language in sorted(asked)
                },
            }
        return data

    def section(self, charts: list[Chart]) -> Section:
        asked = sum(sum(part.asked_by_language().values()) for part in self.splits)
        failed = sum(sum(part.failed.values()) for part in self.splits)
        answered = sum(part.dataset.passages_with_queries() for part in self.splits)
        kept = sum(len(part.dataset.queries) for part in self.splits)
        dropped_by_reason: Counter = Counter()
        for part in self.splits:
            dropped_by_reason.update(part.summary.get("dropped") or {})
        set_aside = sum(n for reason, n in dropped_by_reason.items() if reason in SET_ASIDE_REASONS)
        dropped_total = sum(dropped_by_reason.values()) - set_aside  # questions the filters dropped
        steps = ([("passages in the corpus", self.passages_total)] if self.passages_total else []) + [
            ("passages asked (requests)", asked),
            ("replies", asked - failed),
            ("passages with a kept question", answered),
            ("questions written", kept + dropped_total),
            ("questions kept", kept),
        ]
        for part in self.splits:
            for language, count in sorted(part.kept_by_language().items()):
                steps.append((f"{part.split} · {language_name(language)}: kept", count))
        charts.append(Chart(CHART_FILES["funnel"], hbar_chart("From passages to questions", steps), "data funnel"))
        blocks: list[Block] = [
            Text(
                f"{asked} passages were sent to the LLM, {asked - failed} replies came back, "
                f"{kept + dropped_total} questions were read from them ({set_aside} other lines set aside: "
                f"preambles, answers, markup) and {kept} kept ({dropped_total} dropped by the filters); "
                f"{answered} passages ({answered / max(asked, 1):.0%} of those asked) have at least one kept question."
            ),
            charts[-1],
            self._counts_table(),
            self._reasons_table(),
        ]
        blocks += self._samples()
        return Section("Data", "data", blocks)

    def _counts_table(self) -> Table:
        rows = []
        for part in self.splits:
            kept = part.kept_by_language()
            dropped = part.dropped_by_language()
            for language, asked in sorted(part.asked_by_language().items()):
                failed = part.failed.get(language, 0)
                reasons = (
                    ", ".join(f"{reason} {n}" for reason, n in sorted(dropped.get(language, {}).items())) or "none"
                    if part.dropped is not None
                    else "not recorded"
                )
                rows.append(
                    [part.split, language_name(language), asked, asked - failed, failed, kept.get(language, 0), reasons]
                )
        return Table(
            ["split", "language", "passages asked", "replies", "failed", "kept questions", "dropped (reason: count)"],
            rows,
            "llrrrrl",
        )

    def _reasons_table(self) -> Table:
        reasons = sorted({reason for part in self.splits for reason in (part.summary.get("dropped") or {})})
        rows = [
            [
                reason,
                DROP_REASONS.get(reason, ""),
                *((part.summary.get("dropped") or {}).get(reason, 0) for part in self.splits),
            ]
            for reason in reasons
        ]
        rows.append(
            ["failed", "the request failed after its retries", *(sum(part.failed.values()) for part in self.splits)]
        )
        return Table(["drop reason", "meaning", *(part.split for part in self.splits)], rows, "llrr")

    def _samples(self) -> list[Any]:
        rng = random.Random(0)
        kept_rows, dropped_rows = [], []
        for part in self.splits:
            by_language: dict[str, list[str]] = {}
            for query_id in sorted(part.dataset.queries):
                by_language.setdefault(part.language_of[part.dataset.relevant_docs[query_id][0]], []).append(query_id)
            for language, query_ids in sorted(by_language.items()):
                for query_id in rng.sample(query_ids, min(SAMPLES_PER_GROUP, len(query_ids))):
                    passage = part.dataset.corpus[part.dataset.relevant_docs[query_id][0]]
                    kept_rows.append(
                        [part.split, language_name(language), part.dataset.queries[query_id], _snippet(passage)]
                    )
            by_reason: dict[str, list[dict]] = {}
            for record in part.dropped or []:
                by_reason.setdefault(record.get("reason", "?"), []).append(record)
            for reason, records in sorted(by_reason.items()):
                for record in rng.sample(records, min(SAMPLES_PER_GROUP, len(records))):
                    passage = part.dataset.corpus.get(record.get("node_id", ""), "")
                    dropped_rows.append(
                        [part.split, reason, record.get("query", ""), _snippet(passage) or "(passage not found)"]
                    )
        blocks: list[Block] = [
            Heading("A sample of kept questions"),
            Table(["split", "language", "question", "passage"], kept_rows),
        ]
        blocks.append(Heading("A sample of dropped questions"))
        if any(part.dropped is None for part in self.splits):
            blocks.append(
                Text(
                    "Dropped questions: not recorded for "
                    + ", ".join(part.split for part in self.splits if part.dropped is None)
                    + " (prepare writes them to data/<name>_<split>_dropped.jsonl; rerun `wmemb run --from prepare` "
                    "to record them — cached replies are reused)."
                )
            )
        if dropped_rows:
            blocks.append(Table(["split", "reason", "question", "passage"], dropped_rows))
        return blocks


# --- 4. per-query view -----------------------------------------------------------------------------


def per_query_section(result: EvaluationResult, val: QADataset) -> Section:
    models = result.without_baselines().models
    base, final = models[0], models[-1]
    if len(models) < 2 or not base.per_query or len(base.per_query) != len(final.per_query):
        return Section("Queries that changed", "queries", [Text("Per-query results: not recorded.")])
    changes = [(after.ndcg - before.ndcg, before, after) for before, after in zip(base.per_query, final.per_query)]
    gained = sorted((c for c in changes if c[0] > 0), key=lambda c: -c[0])[:SHOWN_QUERIES]
    lost = sorted((c for c in changes if c[0] < 0), key=lambda c: c[0])[:SHOWN_QUERIES]
    blocks: list[Block] = [
        Text(
            f"Between the {base.label} and the {final.label} model, {sum(c[0] > 0 for c in changes)} of "
            f"{len(changes)} validation questions improved (NDCG@10), {sum(c[0] < 0 for c in changes)} got worse "
            f"and {sum(c[0] == 0 for c in changes)} did not change. "
            f"{CHECK_MARK} marks the passage the question was written about."
        )
    ]
    for title, group in (("Gained most", gained), ("Lost most", lost)):
        blocks.append(Heading(title))
        if not group:
            blocks.append(Text("none"))
        for change, before, after in group:
            blocks += _query_blocks(val, change, before, after, (base.label, final.label))
    return Section("Queries that changed", "queries", blocks)


def _query_blocks(
    val: QADataset, change: float, before: QueryResult, after: QueryResult, labels: tuple[str, str]
) -> list[Any]:
    """One query: its text, the score change, and each model's best passages side by side."""
    relevant = set(val.relevant_docs.get(before.query_id, []))

    def cell(top: list[str], index: int) -> str:
        if index >= len(top):
            return ""
        return (f"{CHECK_MARK} " if top[index] in relevant else "") + _snippet(
            val.corpus.get(top[index], top[index]), 160
        )

    def rank(found: int | None) -> str:
        return f"rank {found}" if found else "not in the searched ranks"

    rows = [[index + 1, cell(before.top, index), cell(after.top, index)] for index in range(len(before.top))]
    return [
        Heading(val.queries.get(before.query_id, before.query_id), level=4),
        Text(
            f"NDCG@10 {before.ndcg:.3f} → {after.ndcg:.3f} ({change:+.3f}); relevant passage at "
            f"{rank(before.first_relevant)} → {rank(after.first_relevant)}."
        ),
        Table(["rank", *labels], rows, "rll"),
    ]


# --- 5. vocabulary ---------------------------------------------------------------------------------


def vocabulary_section(expand: dict | None, train: QADataset, charts: list[Chart]) -> Section:
    if not expand:
        return Section(
            "Vocabulary",
            "vocabulary",
            [Text("No terms were added in this run: expansion was off (expand = false) or found no domain terms.")],
        )
    terms = expand.get("terms", [])
    added = [term for term in terms if term.get("added")]
    passages = list(train.corpus.values())
    from transformers import AutoTokenizer  # heavy; only runs with expansion

    # read from disk each time: the expanded folder is rewritten when the stage reruns
    old_tokenizer = AutoTokenizer.from_pretrained(expand["source"])
    new_tokenizer = AutoTokenizer.from_pretrained(expand["output"])
    before = [len(ids) for ids in old_tokenizer(passages, add_special_tokens=False)["input_ids"]]
    after = [len(ids) for ids in new_tokenizer(passages, add_special_tokens=False)["input_ids"]]
    coverage = {
        item.term: item
        for item in term_coverage(new_tokenizer, {term["term"]: term["token_id"] for term in added}, train)
    }
    blocks: list[Block] = []
    if passages:
        mean_before, mean_after = sum(before) / len(passages), sum(after) / len(passages)
        blocks.append(
            Text(
                f"{len(added)} of {len(terms)} requested terms were added. A training passage now takes "
                f"{mean_after:.1f} tokens instead of {mean_before:.1f} "
                f"({mean_before - mean_after:.2f} saved per passage, {(mean_before - mean_after) / mean_before:.1%})."
            )
        )
    rows, counts = [], []
    for term in terms:
        if not term.get("added"):
            rows.append(
                [term["term"], "skipped: " + term.get("reason", ""), " ".join(term.get("old_pieces", [])), "", "", ""]
            )
            continue
        in_queries, in_passages = coverage[term["term"]].queries, coverage[term["term"]].passages
        probes = term.get("probes") or {}
        single = bool(probes) and all(probes.values())
        check = (
            f"{CHECK_MARK} one token" if single else "✗ split in: " + "; ".join(s for s, ok in probes.items() if not ok)
        )
        rows.append([term["term"], "added", " ".join(term.get("old_pieces", [])), in_queries, in_passages, check])
        counts.append((term["term"], in_passages))
    blocks.append(
        Table(
            [
                "term",
                "result",
                "pieces before",
                "training questions with it",
                "training passages with it (of those with a question)",
                "single-token check",
            ],
            rows,
            "lllrrl",
        )
    )
    uncovered = uncovered_summary(list(coverage.values()))
    if uncovered:
        blocks.append(Text(uncovered[0].upper() + uncovered[1:] + "."))
    if counts:
        shown = sorted(counts, key=lambda item: -item[1])[:30]
        charts.append(
            Chart(
                CHART_FILES["terms"],
                hbar_chart("Training passages (with a question) containing each added term", shown),
                "passages per term",
            )
        )
        blocks.append(charts[-1])
    cosine = expand.get("mean_cosine")
    blocks.append(
        Text(
            f"Embedding check after adding the terms: {expand.get('unaffected_texts', 0)} texts without new terms "
            "embed "
            + ("bit-identically" if expand.get("unaffected_identical", True) else "DIFFERENTLY (unexpected)")
            + f"; {expand.get('affected_texts', 0)} texts with them"
            + (f" keep a mean cosine of {cosine:.4f} to their old embedding" if cosine is not None else "")
            + f"; {len(expand.get('overlaps', []))} pair(s) of terms overlap. Counts come from the expanded tokenizer.",
            note=True,
        )
    )
    return Section("Vocabulary", "vocabulary", blocks)


# --- 6. use the model ------------------------------------------------------------------------------


def reproduce_command(settings: RunSettings) -> str:
    """`wmemb run` with every setting that differs from its default, as flags."""
    parts = ["wmemb", "run"]
    for key, value in settings.values.items():
        if key in settings.defaults and settings.defaults[key] == value:
            continue
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            parts.append(flag if value else "--no-" + key.replace("_", "-"))
        elif isinstance(value, list):
            for item in value:
                parts += [flag, str(item)]
        elif value is not None:
            parts += [flag, str(value)]
    return shlex.join(parts)


def serving_blocks(final: str, exported: Path | None) -> list[Block]:
    """How to serve the final model on a CPU: the export stage's folder, or the command that makes one."""
    if exported is None:
        return [
            Heading("Serve it faster on a CPU"),
            Text(
                "Export it to ONNX with int8 weights (`pip install 'wmemb[serve]'`), check it on your questions, "
                "then load it with `load_exported`:"
            ),
            Code(
                f"wmemb export {shlex.quote(final)} {shlex.quote(final)}-onnx-int8 --quantize int8\n"
                f"wmemb evaluate --model {shlex.quote(final)} --model {shlex.quote(final)}-onnx-int8 "
                f"--dataset {TEMPLATE_FILE}",
                "sh",
            ),
        ]
    path = str(exported.resolve())
    code = "\n".join(
        [
            "from wmemb.export import load_exported",
            "",
            f"model = load_exported({path!r})  # a SentenceTransformer running ONNX Runtime or OpenVINO",
            "queries = model.encode_query(['your question'])  # the saved query prompt is applied",
        ]
    )
    return [
        Heading("The exported model"),
        Text(
            f"The export stage writes the final model to `{path}` after this report (`wmemb_export.json` there "
            'says how close it came to the torch model). sentence-transformers\' own `backend="onnx"` loading '
            "needs Optimum, which does not install beside transformers 5 yet; `load_exported` runs the file in "
            "sentence-transformers' own modules:"
        ),
        Code(code, "python"),
    ]


def usage_section(judgement: Judgement, val: QADataset, settings: RunSettings, exported: Path | None = None) -> Section:
    final = judgement.choice.model
    path = str(Path(final.path).resolve())
    prompt = final.query_prompt or ""
    query_id = next(iter(val.queries), None)
    query = val.queries[query_id] if query_id else "your question"
    passage = _snippet(val.corpus[val.relevant_docs[query_id][0]], 80) if query_id else "a passage"
    prompt_note = f"adds the saved query prompt {prompt!r}" if prompt else "this model has no query prompt"
    sentence_transformers = "\n".join(
        [
            "from sentence_transformers import SentenceTransformer",
            "",
            f"model = SentenceTransformer({path!r})",
            f"queries = model.encode_query([{query!r}])  # {prompt_note}",
            f"passages = model.encode_document([{passage!r}])",
            "print(model.similarity(queries, passages))",
        ]
    )
    llama_index = "\n".join(
        [
            "# pip install llama-index-embeddings-huggingface",
            "from llama_index.core import Settings",
            "from llama_index.embeddings.huggingface import HuggingFaceEmbedding",
            "",
            "Settings.embed_model = HuggingFaceEmbedding(",
            f"    model_name={path!r},",
            f"    query_instruction={prompt!r},  # the saved query prompt",
            '    text_instruction="",',
            ")",
        ]
    )
    langchain = "\n".join(
        [
            "# pip install langchain-huggingface",
            "from langchain_huggingface import HuggingFaceEmbeddings",
            "",
            "embeddings = HuggingFaceEmbeddings(",
            f"    model_name={path!r},",
            '    encode_kwargs={"normalize_embeddings": True},',
            '    query_encode_kwargs={"prompt_name": "query", "normalize_embeddings": True},  # the saved query prompt',
            ")",
            f"vector = embeddings.embed_query({query!r})",
        ]
    )
    blocks: list[Block] = [
        Text(f"The model to use is the {final.label} model in `{path}`."),
        Heading("sentence-transformers"),
        Code(sentence_transformers, "python"),
        Heading("llama_index"),
        Code(llama_index, "python"),
        Heading("LangChain"),
        Code(langchain, "python"),
        *serving_blocks(path, exported),
        Heading("Reproduce this run"),
        Text("Every setting that differs from its default, as flags (the same as the config file that was used):"),
        Code(reproduce_command(settings), "sh"),
        Heading("Settings"),
        Table(
            ["setting", "value", "default"],
            [
                [key, json.dumps(value, ensure_ascii=False), json.dumps(settings.defaults.get(key), ensure_ascii=False)]
                for key, value in settings.values.items()
            ],
            strong=frozenset(
                (row, 1)
                for row, (key, value) in enumerate(settings.values.items())
                if settings.defaults.get(key) != value
            ),
        ),
    ]
    return Section("Use the model", "use", blocks)
