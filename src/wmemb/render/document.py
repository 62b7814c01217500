"""A report as a list of blocks, rendered twice: a self-contained HTML page and Markdown.

Each block knows both forms, so report.md says what report.html says wherever Markdown can hold
it; charts are inline SVG in the page and SVG files beside the Markdown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

from wmemb.render.tables import markdown_table, markdown_text

CHECK_MARK = "✓"  # a table cell starting with it (a relevant passage, a passed check) is highlighted in the page
SNIPPET_CHARS = 220


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """`text` on one line, cut to `limit` characters (an ellipsis ends a cut one): a passage in a table cell."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclass(frozen=True)
class Text:
    """A paragraph; `**bold**` and `` `code` `` spans are kept in Markdown and become <strong>/<code> in HTML."""

    text: str
    note: bool = False  # a side remark, shown smaller

    def markdown(self) -> str:
        text = markdown_text(self.text)
        return f"_{text}_" if self.note else text

    def html(self) -> str:
        body = _inline(escape(self.text), "**", "strong")
        body = _inline(body, "`", "code")
        return f'<p class="{"note" if self.note else "text"}">{body}</p>'


def _inline(text: str, marker: str, tag: str) -> str:
    """Every other `marker`-separated span wrapped in `tag`."""
    parts = text.split(marker)
    if len(parts) % 2 == 0:  # an unpaired marker is text
        return text
    return "".join(f"<{tag}>{part}</{tag}>" if index % 2 else part for index, part in enumerate(parts))


@dataclass(frozen=True)
class Table:
    header: Sequence[str]
    rows: Sequence[Sequence[object]]
    align: str = ""  # one letter per column: l or r
    strong: frozenset[tuple[int, int]] = frozenset()  # (row, column) of cells to emphasise

    def _cell(self, row: int, column: int, value: object) -> str:
        return f"**{value}**" if (row, column) in self.strong else str(value)

    def markdown(self) -> str:
        rows = [[self._cell(r, c, value) for c, value in enumerate(row)] for r, row in enumerate(self.rows)]
        return markdown_table(self.header, rows, self.align)

    def html(self) -> str:
        def cell(tag: str, row: int, column: int, value: object) -> str:
            classes = ["num"] if self.align[column : column + 1] == "r" else []
            if str(value).startswith(CHECK_MARK):
                classes.append("relevant")
            right = f' class="{" ".join(classes)}"' if classes else ""
            content = escape(str(value)).replace("\n", "<br>")
            if (row, column) in self.strong:
                content = f"<strong>{content}</strong>"
            return f"<{tag}{right}>{content}</{tag}>"

        head = "".join(cell("th", -1, c, name) for c, name in enumerate(self.header))
        body = "".join(
            "<tr>" + "".join(cell("td", r, c, value) for c, value in enumerate(row)) + "</tr>"
            for r, row in enumerate(self.rows)
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


@dataclass(frozen=True)
class Chart:
    """An SVG chart: inline in the page, a file next to the Markdown."""

    file: str  # name of the .svg file written beside report.md
    svg: str
    alt: str

    def markdown(self) -> str:
        return f"![{self.alt}]({self.file})"

    def html(self) -> str:
        return f'<figure class="chart">{self.svg}</figure>'


@dataclass(frozen=True)
class Code:
    text: str
    language: str = ""

    def markdown(self) -> str:
        fence = "````" if "```" in self.text else "```"
        return f"{fence}{self.language}\n{self.text}\n{fence}"

    def html(self) -> str:
        return f"<pre><code>{escape(self.text)}</code></pre>"


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 3

    def markdown(self) -> str:
        return "#" * self.level + " " + markdown_text(self.text)

    def html(self) -> str:
        return f"<h{self.level}>{escape(self.text)}</h{self.level}>"


Block = Text | Table | Chart | Code | Heading


@dataclass
class Section:
    title: str
    anchor: str
    blocks: list[Block] = field(default_factory=list)

    @property
    def charts(self) -> list[Chart]:
        """Its charts: inline in the page, and each a file of its own beside the Markdown."""
        return [block for block in self.blocks if isinstance(block, Chart)]


_STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI','Noto Sans','Noto Sans CJK SC','PingFang SC',sans-serif;
 max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{margin-bottom:.2em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
nav a{margin-right:1em} table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #ddd;padding:.3em .6em;vertical-align:top;text-align:left;overflow-wrap:anywhere}
th{background:#f4f4f4} td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
p.note{color:#555;font-size:.9em} td.relevant{background:#eaf6ec}
code{background:#f6f8fa;padding:0 .2em;border-radius:3px} figure.chart{margin:.8em 0;overflow-x:auto}
pre{background:#f6f8fa;padding:.8em;overflow-x:auto;border-radius:4px}
#verdict p.text:first-of-type{font-size:1.15em;background:#f3f8ff;border-left:4px solid #4c72b0;padding:.6em .8em}
"""


def render_markdown(title: str, sections: Sequence[Section]) -> str:
    lines = [f"# {title}", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            lines += [block.markdown(), ""]
    return "\n".join(lines)


def render_html(title: str, sections: Sequence[Section]) -> str:
    """One self-contained page: inline style and charts, no script, nothing fetched."""
    nav = "".join(f'<a href="#{s.anchor}">{escape(s.title)}</a>' for s in sections)
    body = "".join(
        f'<section id="{s.anchor}"><h2>{escape(s.title)}</h2>' + "".join(b.html() for b in s.blocks) + "</section>"
        for s in sections
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style></head>'
        f"<body><h1>{escape(title)}</h1><nav>{nav}</nav>{body}</body></html>\n"
    )
