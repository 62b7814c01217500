"""Reports of an evaluation: a terminal table, metrics.json, metrics.md and a metrics.png chart.

Tables have one row per metric and one column per model, best value in bold, so that base,
fine-tuned and expanded models read side by side.
"""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path

from rich.table import Table

from wmemb.corpus.sentences import is_cjk
from wmemb.evaluate.evaluate import EvaluationResult
from wmemb.io import atomic_write, write_json

log = logging.getLogger(__name__)

REPORT_FILES = {"json": "metrics.json", "markdown": "metrics.md", "chart": "metrics.png"}
_CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
    "Heiti SC",
)


def _best(result: EvaluationResult, name: str) -> float:
    return max(model.metrics[name] for model in result.models)


def _title(result: EvaluationResult) -> str:
    return f"{result.dataset}: {result.queries} queries, {result.passages} passages"


def metrics_table(result: EvaluationResult) -> Table:
    """A rich table for the terminal."""
    title = _title(result)
    table = Table(title=title, title_justify="left", min_width=len(title))
    table.add_column("metric", style="bold")
    for model in result.models:
        table.add_column(model.label, justify="right")
    for name in result.metric_names:
        best = _best(result, name)
        table.add_row(
            name,
            *(
                f"[bold green]{m.metrics[name]:.4f}[/]"
                if len(result.models) > 1 and m.metrics[name] == best
                else f"{m.metrics[name]:.4f}"
                for m in result.models
            ),
        )
    table.add_row("texts/s", *(f"{m.texts_per_second:.1f}" for m in result.models), style="dim")
    return table


def metrics_markdown(result: EvaluationResult) -> str:
    """A Markdown report: the comparison table and where each model came from."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [
        f"# Retrieval evaluation: {cell(result.dataset)}",
        "",
        f"{result.queries} queries, {result.passages} passages (source: `{result.source}`).",
        "",
        "| metric | " + " | ".join(cell(m.label) for m in result.models) + " |",
        "| --- |" + " ---: |" * len(result.models),
    ]
    for name in result.metric_names:
        best = _best(result, name)
        values = [
            f"**{m.metrics[name]:.4f}**"
            if len(result.models) > 1 and m.metrics[name] == best
            else f"{m.metrics[name]:.4f}"
            for m in result.models
        ]
        lines.append(f"| {name} | " + " | ".join(values) + " |")
    lines += ["", "| model | folder | query instruction | texts encoded/s |", "| --- | --- | --- | ---: |"]
    lines += [
        f"| {cell(m.label)} | `{m.path}` | {cell(repr(m.query_prompt)) if m.query_prompt else 'none'} | {m.texts_per_second:.1f} |"
        for m in result.models
    ]
    return "\n".join(lines) + "\n"


def _font_families(texts: list[str]) -> list[str]:
    """DejaVu Sans, then any installed CJK font for Chinese labels (matplotlib falls back per glyph)."""
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    cjk = [name for name in _CJK_FONTS if name in installed]
    if not cjk and any(is_cjk(char) for text in texts for char in text):
        log.warning("no CJK font installed: Chinese labels in metrics.png show as boxes (install e.g. fonts-noto-cjk)")
    return ["DejaVu Sans", *cjk]


def chart_png(result: EvaluationResult) -> bytes:
    """A grouped bar chart, one group per metric and one bar per model, as PNG bytes."""
    import matplotlib

    families = _font_families([result.dataset, *(model.label for model in result.models)])
    with matplotlib.rc_context({"font.family": families}), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from")  # reported once above
        return _draw_chart(result)


def _draw_chart(result: EvaluationResult) -> bytes:
    from matplotlib.figure import Figure  # a bare Figure renders with Agg: no display, user's backend untouched

    names = result.metric_names
    count = len(result.models)
    width = 0.8 / count
    figure = Figure(figsize=(max(6.0, 0.9 * len(names) + 0.4 * count), 4.2), dpi=120)
    axes = figure.subplots()
    for index, model in enumerate(result.models):
        positions = [group + (index - (count - 1) / 2) * width for group in range(len(names))]
        axes.bar(positions, [model.metrics[name] for name in names], width=width, label=model.label)
    axes.set_xticks(range(len(names)), names, rotation=30, ha="right")
    axes.set_ylim(0, 1)
    axes.set_ylabel("score")
    axes.set_title(_title(result))
    axes.grid(axis="y", alpha=0.3)
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def write_reports(result: EvaluationResult, out_dir: str | Path) -> dict[str, Path]:
    """Write metrics.json, metrics.md and metrics.png into `out_dir`, each atomically."""
    out = Path(out_dir)
    paths = {kind: out / name for kind, name in REPORT_FILES.items()}
    chart = chart_png(result)  # rendered first: a plotting failure leaves no report at all
    write_json(paths["json"], result.to_json())
    with atomic_write(paths["markdown"]) as handle:
        handle.write(metrics_markdown(result))
    with atomic_write(paths["chart"], "wb") as handle:
        handle.write(chart)
    return paths
