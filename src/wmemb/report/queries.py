"""The run report's "Queries that changed" section: the validation questions whose NDCG@10 rose or fell most
between the base and the last trained model, each with both models' best passages side by side."""

from __future__ import annotations

from typing import Any

from wmemb.evaluate.results import EvaluationResult, QueryResult
from wmemb.records import QADataset
from wmemb.render.document import CHECK_MARK, Block, Heading, Section, Table, Text, snippet

SHOWN_QUERIES = 5  # gained most / lost most


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
        return (f"{CHECK_MARK} " if top[index] in relevant else "") + snippet(
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
