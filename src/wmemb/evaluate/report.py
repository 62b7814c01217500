"""Reports of an evaluation: a terminal table, metrics.json, metrics.md and a metrics.svg chart.

Tables have one row per metric and one column per model, best value in bold, so that base,
fine-tuned and expanded models read side by side. The chart is SVG with its labels as text, so
Chinese model or dataset names render with the viewer's fonts.
"""

from __future__ import annotations

from pathlib import Path

from rich.table import Table as RichTable

from wmemb.evaluate.results import EvaluationResult
from wmemb.io import atomic_write, write_json
from wmemb.render.charts import Series, bar_chart
from wmemb.render.document import Table

REPORT_FILES = {"json": "metrics.json", "markdown": "metrics.md", "chart": "metrics.svg"}


def _title(result: EvaluationResult) -> str:
    return f"{result.dataset}: {result.queries} queries, {result.passages} passages"


def _best_cells(result: EvaluationResult) -> set[tuple[int, int]]:
    """(metric row, model index) of each metric's best value, when there is a comparison."""
    if len(result.models) < 2:
        return set()
    best = set()
    for row, name in enumerate(result.metric_names):
        top = max(model.metrics[name] for model in result.models)
        best |= {(row, index) for index, model in enumerate(result.models) if model.metrics[name] == top}
    return best


def metrics_comparison(result: EvaluationResult) -> Table:
    """One row per metric, one column per model, the best value of each row emphasised."""
    rows = [[name, *(f"{m.metrics[name]:.4f}" for m in result.models)] for name in result.metric_names]
    strong = frozenset((row, index + 1) for row, index in _best_cells(result))
    return Table(["metric", *(m.label for m in result.models)], rows, "l" + "r" * len(result.models), strong)


def metrics_table(result: EvaluationResult) -> RichTable:
    """A rich table for the terminal."""
    title = _title(result)
    table = RichTable(title=title, title_justify="left", min_width=len(title))
    table.add_column("metric", style="bold")
    for model in result.models:
        table.add_column(model.label, justify="right")
    best = _best_cells(result)
    for row, name in enumerate(result.metric_names):
        table.add_row(
            name,
            *(
                f"[bold green]{m.metrics[name]:.4f}[/]" if (row, index) in best else f"{m.metrics[name]:.4f}"
                for index, m in enumerate(result.models)
            ),
        )
    table.add_row("texts/s", *(f"{m.texts_per_second:.1f}" for m in result.models), style="dim")
    return table


def models_table(result: EvaluationResult) -> Table:
    """Where each model came from and how fast it encoded."""
    rows = [
        [m.label, m.path, repr(m.query_prompt) if m.query_prompt else "none", f"{m.texts_per_second:.1f}"]
        for m in result.models
    ]
    return Table(["model", "folder", "query instruction", "texts encoded/s"], rows, "lllr")


def metrics_markdown(result: EvaluationResult) -> str:
    """A Markdown report: the comparison table, the chart and where each model came from."""
    return "\n".join(
        [
            f"# Retrieval evaluation: {result.dataset}",
            "",
            f"{result.queries} queries, {result.passages} passages (source: `{result.source}`).",
            "",
            metrics_comparison(result).markdown(),
            "",
            f"![metrics per model]({REPORT_FILES['chart']})",
            "",
            models_table(result).markdown(),
            "",
        ]
    )


def metrics_chart(result: EvaluationResult) -> str:
    """A grouped bar chart, one group per metric and one bar per model, as SVG."""
    return bar_chart(
        _title(result),
        result.metric_names,
        [Series(m.label, [m.metrics[name] for name in result.metric_names]) for m in result.models],
    )


def write_reports(result: EvaluationResult, out_dir: str | Path) -> dict[str, Path]:
    """Write metrics.json, metrics.md and metrics.svg into `out_dir`, each atomically."""
    out = Path(out_dir)
    paths = {kind: out / name for kind, name in REPORT_FILES.items()}
    write_json(paths["json"], result.to_json())
    with atomic_write(paths["markdown"]) as handle:
        handle.write(metrics_markdown(result))
    with atomic_write(paths["chart"]) as handle:
        handle.write(metrics_chart(result))
    return paths
