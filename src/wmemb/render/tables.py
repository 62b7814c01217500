"""One Markdown table builder for every report (evaluation, model card, run report)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape


def markdown_text(text: str) -> str:
    """`text` with HTML escaped outside `code` spans: Markdown viewers render raw HTML, and passages and LLM
    replies may hold some (`<script>`, `<img onerror=...>`); inside a code span it shows as written anyway."""
    parts = text.split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick is text
        return escape(text, quote=False)
    return "`".join(part if index % 2 else escape(part, quote=False) for index, part in enumerate(parts))


def markdown_cell(value: object) -> str:
    """A value as one Markdown table cell: HTML and pipes escaped, line breaks flattened."""
    return markdown_text(" ".join(str(value).split())).replace("|", "\\|")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]], align: str = "") -> str:
    """A GitHub-flavoured Markdown table. `align` holds one letter per column, `l` or `r`
    (columns beyond it are left-aligned); cells are converted with `str`."""
    rules = ["---:" if align[i : i + 1] == "r" else "---" for i in range(len(header))]
    lines = [
        "| " + " | ".join(markdown_cell(cell) for cell in header) + " |",
        "| " + " | ".join(rules) + " |",
    ]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"table row has {len(row)} cells for {len(header)} columns: {row!r}")
        lines.append("| " + " | ".join(markdown_cell(cell) for cell in row) + " |")
    return "\n".join(lines)
