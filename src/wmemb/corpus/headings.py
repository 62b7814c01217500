"""Headings of a document: where sections start, how deep they are, and what they are called.

Markdown (ATX `#` and setext underlines) and reStructuredText (underlined or overlined titles) mark
headings explicitly. Plain text and PDF text only number them: `1.1.5. GUI 系统管理工具`,
`2.3 Package management`, `Chapter 1. Tutorials`, `第三章 细菌的形态`, `第2节 …`; an unnumbered line
counts as a heading only when it stands alone, is short, has no final punctuation and is followed by a
paragraph of body text. Detection is conservative because a sentence taken for a heading would cut a
passage: a candidate followed directly by a sibling or a shallower candidate is a list or a table of
contents, not a heading. HTML headings (h1-h6) come from the HTML reader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from wmemb.text import is_cjk


@dataclass(frozen=True)
class Heading:
    start: int  # character span of the heading line(s) in the document text
    end: int
    level: int  # 1 for a chapter / `#`; deeper sections have higher levels
    title: str


MARKDOWN_SUFFIXES = {".md", ".markdown"}
RST_SUFFIXES = {".rst"}

_LINE = re.compile(r"[^\n]*(?:\n|$)")
_ATX = re.compile(r" {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*")
_FENCE = re.compile(r" {0,3}(```|~~~)")
_SETEXT = re.compile(r" {0,3}(=+|-+)[ \t]*")
_RST_ADORNMENT = re.compile(r"([=\-~^\"'`#*+:._<>])\1+[ \t]*")

_DIGITS_ZH = "0-9零〇一二三四五六七八九十百千两"
_NUMBERED = [
    # (pattern, level of the match or None for "number of dotted components")
    (re.compile(r"(?:Chapter|CHAPTER|Part|PART|Appendix|APPENDIX)\s+(?:\d{1,3}|[IVXLC]{1,6}|[A-Z])\b[.:]?\s*"), 1),
    (re.compile(f"第\\s*[{_DIGITS_ZH}]{{1,5}}\\s*[章篇部编卷](?:\\s+|(?=[^\\s，。、：；,.:;]))"), 1),
    (re.compile(r"附录\s*[A-Z0-9一二三四五六七八九十]{1,3}\s*"), 1),
    (re.compile(r"(?:Section|SECTION|§)\s*\d{1,3}(?:\.\d{1,3})*\.?\s+"), 2),
    (re.compile(f"第\\s*[{_DIGITS_ZH}]{{1,5}}\\s*节(?:\\s+|(?=[^\\s，。、：；,.:;]))"), 2),
    (re.compile(r"(\d{1,2}(?:\.\d{1,3}){0,5})(\.?)(?:\s+|(?=[^\x00-\x7f]))"), None),
]
_FINAL_PUNCTUATION = tuple(".,:;!?。，、：；！？…")
_STATEMENT_END = tuple(".,:;!。，、：；！…")
# Admonition labels stand alone like headings but only label the next paragraph.
_ADMONITIONS = frozenset(
    "note notes tip tips hint warning caution important attention danger example".split()
    + "注意 警告 提示 重要 小心 注 例 示例".split()
)
# A line ending in one of these words is the first line of a wrapped sentence.
_CONNECTORS = frozenset("a an the of to in on at by for from with and or but is are was were as that which".split())
_CODE_CHARS = set("$=<>{}[]|\\`;@#*")
MAX_HEADING_CHARS = 80
MAX_HEADING_WORDS = 12
MAX_UNNUMBERED_CHARS = 60
MAX_UNNUMBERED_WORDS = 8
MIN_BODY_WIDTH = 60  # columns (a CJK character takes two)


def find_headings(text: str, source: str) -> list[Heading]:
    """Headings of `text`, read by the conventions of the file type of `source` (its suffix)."""
    suffix = Path(source).suffix.lower()
    if suffix in MARKDOWN_SUFFIXES:
        return _markdown_headings(text)
    if suffix in RST_SUFFIXES:
        return _rst_headings(text)
    return _plain_headings(text)


@dataclass(frozen=True)
class _Line:
    start: int
    end: int  # end of the line's text, newline excluded
    text: str

    @property
    def blank(self) -> bool:
        return not self.text.strip()


def _lines(text: str) -> list[_Line]:
    lines = []
    for match in _LINE.finditer(text):
        if match.start() == len(text):
            break
        line = match.group().rstrip("\n").rstrip("\r")
        lines.append(_Line(match.start(), match.start() + len(line), line))
    return lines


def _span(lines: list[_Line], first: int, last: int, level: int, title: str) -> Heading:
    """A heading over lines[first..last], trimmed to its non-whitespace characters."""
    start, end = lines[first].start, lines[last].end
    start += len(lines[first].text) - len(lines[first].text.lstrip())
    end -= len(lines[last].text) - len(lines[last].text.rstrip())
    return Heading(start, end, level, " ".join(title.split()))


def _markdown_headings(text: str) -> list[Heading]:
    lines = _lines(text)
    headings = []
    fence = None
    for i, line in enumerate(lines):
        opening = _FENCE.match(line.text)
        if opening:
            fence = None if fence == opening.group(1) else fence or opening.group(1)
            continue
        if fence:
            continue
        atx = _ATX.fullmatch(line.text)
        if atx and atx.group(2).strip():
            headings.append(_span(lines, i, i, len(atx.group(1)), atx.group(2)))
            continue
        below = lines[i + 1].text if i + 1 < len(lines) else ""
        setext = _SETEXT.fullmatch(below)
        if (
            setext
            and not line.blank
            and not line.text.startswith(("    ", "\t"))
            and (i == 0 or lines[i - 1].blank)
            and not _SETEXT.fullmatch(line.text)
        ):
            headings.append(_span(lines, i, i + 1, 1 if setext.group(1)[0] == "=" else 2, line.text))
    return headings


def _rst_headings(text: str) -> list[Heading]:
    """Titles with an underline (and optional overline) of one punctuation character at least as long
    as the title; levels in order of first appearance of each style, as reStructuredText defines them."""
    lines = _lines(text)
    styles: list[tuple[str, bool]] = []
    headings = []
    i = 0
    while i < len(lines):
        title = lines[i]
        over = None
        if _RST_ADORNMENT.fullmatch(title.text) and i + 2 < len(lines):
            over, title = title, lines[i + 1]
        j = i + (2 if over else 1)
        under = lines[j] if j < len(lines) else None
        fits = (
            under is not None
            and not title.blank
            and _RST_ADORNMENT.fullmatch(under.text)
            and len(under.text.rstrip()) >= _display_width(title.text.strip())
            and (over is None or over.text.rstrip() == under.text.rstrip())
            and (over is not None or not title.text[0].isspace())
            and not _RST_ADORNMENT.fullmatch(title.text)
        )
        if fits and under is not None:
            style = (under.text.strip()[0], over is not None)
            if style not in styles:
                styles.append(style)
            headings.append(_span(lines, i, j, styles.index(style) + 1, title.text))
            i = j + 1
        else:
            i += 1
    return headings


def _display_width(text: str) -> int:
    """Columns a title takes: CJK characters are two wide (reStructuredText counts them so)."""
    return sum(2 if is_cjk(char) else 1 for char in text)


def _plain_headings(text: str) -> list[Heading]:
    lines = _lines(text)
    candidates: list[tuple[int, int, str]] = []  # (line index, level or 0 for unnumbered, title)
    for i, line in enumerate(lines):
        if line.blank:
            continue
        numbered = _numbered(line.text.strip())
        if numbered:
            candidates.append((i, *numbered))
        elif _standalone_title(lines, i):
            candidates.append((i, 0, line.text))
    by_line = {i: level for i, level, _ in candidates}
    headings = []
    for i, level, title in candidates:
        if not _starts_section(lines, i):
            continue
        following = _next_content(lines, i)
        if following is not None and _continues(lines[i], lines[following], lines[i + 1].blank):
            continue
        previous = _previous_content(lines, i)
        after = by_line.get(following) if following is not None else None
        before = by_line.get(previous) if previous is not None else None
        if _nested_in_list(level, after, before):
            continue  # a list or a table of contents: no body text between it and its neighbours
        headings.append(_span(lines, i, i, level, title))
    return _levels_for_unnumbered(headings)


def _starts_section(lines: list[_Line], i: int) -> bool:
    """A heading line follows a blank line, the start of the text, or a line that ends a sentence."""
    if i == 0 or lines[i - 1].blank:
        return True
    return lines[i - 1].text.rstrip().endswith(tuple('.!?。！？:："”」』)）'))


def _next_content(lines: list[_Line], i: int) -> int | None:
    for j in range(i + 1, len(lines)):
        if not lines[j].blank:
            return j
    return None


def _indent(line: _Line) -> int:
    return len(line.text) - len(line.text.lstrip())


def _continues(line: _Line, following: _Line, blank_between: bool) -> bool:
    """The line is part of body text: a wrapped sentence goes on below in lower case, a list item's text
    goes on below with a hanging indent, or body text below is less indented than the item."""
    if not blank_between and (following.text.lstrip()[:1].islower() or _indent(following) > _indent(line)):
        return True
    return _indent(line) > _indent(following)


def _previous_content(lines: list[_Line], i: int) -> int | None:
    for j in range(i - 1, -1, -1):
        if not lines[j].blank:
            return j
    return None


def _nested_in_list(level: int, after: int | None, before: int | None) -> bool:
    """A candidate directly followed by a sibling or shallower one, or directly preceded by a sibling
    or deeper one, has no body text of its own (levels are None where the neighbour is body text and
    0 for unnumbered candidates, which may never touch another candidate)."""
    if level == 0:
        return after is not None or before is not None
    return (after is not None and (after == 0 or after <= level)) or (before is not None and before >= level)


def _numbered(line: str) -> tuple[int, str] | None:
    """(level, title) of a numbered section line such as `1.1.5. GUI tools` or `第三章 细菌的形态`."""
    # a numbered heading may be a question ("2.7.11. Who uploaded the package?"), never a statement
    if len(line) > MAX_HEADING_CHARS or len(line.split()) > MAX_HEADING_WORDS or line.endswith(_STATEMENT_END):
        return None
    for pattern, level in _NUMBERED:
        match = pattern.match(line)
        if not match or match.end() == len(line):
            continue
        rest = line[match.end() :]
        # "1.1.12. sudo configuration" may start in lower case; "2.3 times faster than" wraps a sentence.
        dotted = level is not None or (match.group(2) == "." and "." in match.group(1))
        if not (rest[0].isupper() or any(is_cjk(char) for char in rest) or (dotted and rest[0].isalpha())):
            return None
        if _looks_like_quantity(rest) or rest.split()[-1].lower() in _CONNECTORS:
            return None
        depth = level if level is not None else match.group(1).count(".") + 1
        return depth, line
    return None


def _looks_like_quantity(rest: str) -> bool:
    """`3 GB of RAM`, `10 MB/s`, `5 分钟后`: a number with a unit, not a section number."""
    return bool(
        re.match(r"(?:[KMGT]i?B|[kKMG]Hz|ms|s|%|°|px|pt|cm|mm|km|kg|分钟|秒|小时|天|年|月|日|个|次|元|%)\b", rest)
    )


def _standalone_title(lines: list[_Line], i: int) -> bool:
    """A short line alone in its paragraph, without final punctuation, followed by body text."""
    line = lines[i].text.strip()
    alone = (i == 0 or lines[i - 1].blank) and (i + 1 < len(lines) and lines[i + 1].blank)
    if not alone or line.endswith(_FINAL_PUNCTUATION) or line.lower() in _ADMONITIONS:
        return False
    cjk = sum(is_cjk(char) for char in line)
    if len(line) > MAX_UNNUMBERED_CHARS or (cjk == 0 and len(line.split()) > MAX_UNNUMBERED_WORDS):
        return False
    if not (line[0].isupper() or is_cjk(line[0])) or _CODE_CHARS & set(line) or "  " in line:
        return False
    body = _next_content(lines, i)
    if body is None:
        return False
    paragraph = []
    for j in range(body, len(lines)):
        if lines[j].blank:
            break
        paragraph.append(lines[j].text.strip())
    text = " ".join(paragraph)
    return _display_width(text) >= MIN_BODY_WIDTH and text.endswith(tuple('.!?。！？"”」）)'))


def _levels_for_unnumbered(headings: list[Heading]) -> list[Heading]:
    """An unnumbered heading sits one level below the numbered heading before it (a leaf section)."""
    result = []
    depth = 0
    for heading in headings:
        if heading.level:
            depth = heading.level
            result.append(heading)
        else:
            result.append(Heading(heading.start, heading.end, depth + 1, heading.title))
    return result


def section_paths(headings: list[Heading]) -> list[tuple[str, ...]]:
    """The section path of each heading: the titles of the headings it is nested in, then its own."""
    stack: list[Heading] = []
    paths = []
    for heading in headings:
        while stack and stack[-1].level >= heading.level:
            stack.pop()
        stack.append(heading)
        paths.append(tuple(h.title for h in stack))
    return paths
