"""The run report's "Serving" section: NDCG@10 against vector size (matryoshka_dims) and against encoding
speed on this CPU (serve_check), from what the evaluate stage measured (wmemb.evaluate.serving)."""

from __future__ import annotations

from wmemb.evaluate.serving import (
    METRIC,
    SIZE_HEADERS,
    THROUGHPUT_HEADERS,
    ServingResult,
    size_rows,
    throughput_rows,
    timing_note,
)
from wmemb.render.charts import Line, line_chart
from wmemb.render.document import Block, Chart, Heading, Section, Table, Text

CHART_FILE = "sizes.svg"


def serving_section(serving: ServingResult | None) -> Section:
    """NDCG@10 per vector size and per serving variant, as far as the run measured them."""
    blocks: list[Block] = []
    if serving is None:
        blocks.append(
            Text(
                "Not measured in this run: set matryoshka_dims (e.g. [64, 128, 256]) to train and score smaller "
                "vectors, and serve_check = true to time ONNX and ONNX int8 against torch on this CPU."
            )
        )
        return Section("Serving", "serving", blocks)
    if serving.sizes is not None:
        sizes = serving.sizes
        lines = []
        for full in sizes.models:
            cut = [row for row in sizes.truncated if row.label.rpartition("@")[0] == full.label]
            points = sorted((row.dimension or 0, row.metrics[METRIC]) for row in [full, *cut])
            lines.append(Line(full.label, points))
        blocks += [
            Heading("NDCG@10 against vector size"),
            Text(
                f"Each model's embeddings of the {sizes.queries} validation questions and {sizes.passages} passages, "
                "cut to their first dimensions and normalised again, as `SentenceTransformer(MODEL, truncate_dim=N)` "
                "serves them. Models trained with matryoshka_dims keep more of their quality at small sizes; a "
                "smaller vector takes less storage and searches faster."
            ),
            Chart(CHART_FILE, line_chart("NDCG@10 against vector size", "dimensions", "NDCG@10", lines), "sizes"),
            Table(SIZE_HEADERS, size_rows(sizes), "lrrrr"),
        ]
    if serving.throughput is not None:
        speed = serving.throughput
        blocks += [
            Heading("Speed on this CPU"),
            Text(f"**{speed.recommendation()}**"),
            Table(THROUGHPUT_HEADERS, throughput_rows(speed), "lrrrrr"),
            Text(
                f"The {speed.variants[0].scores.path} model exported to each format in a temporary folder and scored "
                f"on the validation questions. {timing_note(speed)}",
                note=True,
            ),
        ]
    return Section("Serving", "serving", blocks)
