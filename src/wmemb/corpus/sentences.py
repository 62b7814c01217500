"""Sentence boundaries for Chinese, English and mixed text, in linear time.

Works on the text as extracted, so sentence spans are offsets into the source. Blank lines end a
paragraph (and a sentence); single line breaks inside a paragraph are soft (typical of PDF and
hard-wrapped text) and `clean` joins them: directly between CJK characters, with a space elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from wmemb.text import is_cjk

_CLOSERS = "\"'”’」』）)】》〉\\]〕>"

_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n\s*")
# Candidate ends of a sentence: CJK terminators, ellipses, Latin terminators; then closing quotes/brackets.
_TERMINATOR = re.compile(f"(?:[。！？；｡]+|…+|\\.{{3,}}|[.!?]+)[{_CLOSERS}]*")
_SECONDARY = re.compile(r"[，、：,:;；]+")

_ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof sr jr st vs etc e.g eg i.e ie fig figs no nos vol vols pp p ed eds approx cf al inc ltd co
    corp dept univ jan feb mar apr jun jul aug sep sept oct nov dec sec ch chap eq eqs ref refs resp est min max
    avg ca op art seq viz mt ft""".split()
)
_NUMBERING = re.compile(r"[(\[]?(?:\d{1,3}(?:\.\d{1,3})*|[A-Za-z]|[ivxIVX]{1,4})[.)]")
_WORD_BEFORE_DOT = re.compile(r"([A-Za-z][A-Za-z.]*)\.$")


def paragraphs(text: str, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int]]:
    """Spans of paragraphs (runs of text between blank lines), whitespace-trimmed, non-empty."""
    end = len(text) if end is None else end
    pos = start
    for match in _PARAGRAPH_BREAK.finditer(text, start, end):
        yield from _trimmed(text, pos, match.start())
        pos = match.end()
    yield from _trimmed(text, pos, end)


def _trimmed(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        yield start, end


def sentences(text: str) -> Iterator[tuple[int, int]]:
    """Spans of sentences: every non-whitespace character of `text` is in exactly one span."""
    for para_start, para_end in paragraphs(text):
        pos = para_start
        for match in _TERMINATOR.finditer(text, para_start, para_end):
            cut = match.end()
            if cut < para_end and _is_boundary(text, pos, match, para_end):
                yield from _trimmed(text, pos, cut)
                pos = cut
        yield from _trimmed(text, pos, para_end)


def _is_boundary(text: str, sentence_start: int, match: re.Match, para_end: int) -> bool:
    mark = match.group()
    after = match.end()
    first = mark[0]
    if first in "。！？；｡":
        return True
    following_space = after < para_end and text[after].isspace()
    nxt = after
    while nxt < para_end and text[nxt].isspace():
        nxt += 1
    next_char = text[nxt] if nxt < para_end else ""
    before = text[match.start() - 1] if match.start() > 0 else ""
    if not following_space:
        # No space after the mark: only a sentence end inside CJK text ("它是什么?那么", "……然后").
        return is_cjk(next_char) and (first == "…" or (first in "!?." and is_cjk(before)))
    if next_char.islower() and next_char.isascii():
        return False  # "e.g. the", "Yahoo! is", "wait... what": not a sentence end
    if mark.startswith(".") and not mark.startswith("..."):
        head = text[sentence_start : match.start() + 1].lstrip()
        if len(head) <= 12 and _NUMBERING.fullmatch(head):
            return False  # list or section numbering: "1.", "2.3.", "(a)"
        word = _WORD_BEFORE_DOT.search(text, max(sentence_start, match.start() - 16), match.start() + 1)
        if word:
            token = word.group(1).lower()
            if token in _ABBREVIATIONS or len(token) == 1 or re.fullmatch(r"(?:[a-z]\.)+[a-z]", token):
                return False  # "Dr. Smith", "J. Smith", "U.S. Army"
    return True


def secondary_cuts(text: str, start: int, end: int) -> list[int]:
    """Cut points after clause punctuation (，、：, commas, colons, semicolons) inside a span."""
    return [match.end() for match in _SECONDARY.finditer(text, start, end) if match.end() < end]


_SOFT_BREAK = re.compile(r"[^\S\n]*\n\s*")
_SPACES = re.compile(r"[^\S\n]{2,}|[^\S \n]")


def clean(span: str) -> str:
    """Passage text from a span of source text: paragraphs kept as one newline, soft line breaks
    joined (no space between CJK characters), runs of spaces folded. Only whitespace changes."""

    def join(match: re.Match) -> str:
        if match.group().count("\n") >= 2:
            return "\n"
        start, end = match.start(), match.end()
        if start > 0 and end < len(span) and is_cjk(span[start - 1]) and is_cjk(span[end]):
            return ""
        return " "

    return _SPACES.sub(" ", _SOFT_BREAK.sub(join, span.strip()))
