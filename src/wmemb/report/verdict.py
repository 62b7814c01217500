"""The run report's "Verdict" section: which model won on the validation questions and the cloze check, by how
much and how sure (the paired bootstrap of wmemb.evaluate.choice), how far to trust that, and every metric."""

from __future__ import annotations

from pathlib import Path

from wmemb.evaluate.bootstrap import Difference
from wmemb.evaluate.choice import (
    BEST_METRIC,
    JUDGE_AGREEMENT,
    LEXICAL_NOTE,
    TEMPLATE_FILE,
    Judge,
    Judgement,
    compare,
    interval_text,
)
from wmemb.evaluate.report import REPORT_FILES, metrics_chart, metrics_comparison
from wmemb.evaluate.results import BM25_LABEL, EvaluationResult, ModelScores, hybrid_label
from wmemb.generate.prepare import PrepareSummary
from wmemb.records import QADataset
from wmemb.render.charts import Interval, interval_chart
from wmemb.render.document import Block, Chart, Heading, Section, Table, Text, snippet

CHART_FILE = "verdict.svg"


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


def verdict_section(judgement: Judgement, prepare: PrepareSummary | None, link: Path | None) -> Section:
    """Which model the run ships and how sure that is, on both judges; `prepare` names the LLM that wrote the
    questions, `link` is models/final."""
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
        blocks.append(
            Chart(
                CHART_FILE,
                interval_chart(
                    f"NDCG@10 difference with 95% CI ({choice.judge.queries})",
                    intervals,
                    "difference in NDCG@10 per query",
                ),
                "NDCG@10 differences with 95% intervals",
            )
        )
    llm = " ".join(part for part in (prepare.backend, prepare.model) if part) if prepare else ""
    blocks += trust_blocks(judgement, llm or "the LLM", challenger)
    result = judgement.validation
    blocks += [
        Heading("All metrics on the validation questions"),
        metrics_comparison(result),
        Chart(REPORT_FILES["chart"], metrics_chart(result), "all metrics per model"),
    ]
    return Section("Verdict", "verdict", blocks)


def questions_template(val: QADataset, examples: int = 3) -> QADataset:
    """Every validation passage, and a few example questions to replace with questions users asked."""
    asked = list(dict.fromkeys(doc for docs in val.relevant_docs.values() for doc in docs))[:examples]
    queries = {
        f"example-{n}": "Replace with a question a user asked that this passage answers: "
        + snippet(val.corpus[doc], 60)
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
