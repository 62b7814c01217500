"""Why a line of a reply did not become a query: each reason once, with what it means.

The value is what prepare writes (the `reason` of `*_dropped.jsonl` records, the `dropped` counts of its summary in
state.json); a `DropReason` is a `str` equal to it and printing as it, so these files read as plain strings.
Set-aside reasons are lines that were never candidate queries (parse.py); the others drop a query (filters.py,
prepare.py). The run report's table of reasons shows each description.
"""

from __future__ import annotations

from enum import Enum


class DropReason(str, Enum):  # StrEnum, once Python 3.10 is dropped
    _value_: str
    description: str
    set_aside: bool  # a line that was never a candidate query, as opposed to a query the filters dropped

    def __new__(cls, value: str, description: str, set_aside: bool = False) -> DropReason:
        member = str.__new__(cls, value)
        member._value_ = value
        member.description = description
        member.set_aside = set_aside
        return member

    def __str__(self) -> str:  # the value, as StrEnum: f"{reason}" and str(reason) read "too_short"
        return self._value_

    def __format__(self, format_spec: str) -> str:
        return format(self._value_, format_spec)

    # set aside while parsing a reply (parse.py, and prepare.build_dataset for cut_off)
    PREAMBLE = "preamble", "an announcement, a header or a code fence, not a query", True
    ANSWER = "answer", "an answer or an explanation after the queries", True
    MARKUP = "markup", "a line of markup with no text", True
    CUT_OFF = "cut_off", "the last line of a reply that reached its token cap, stopped mid-query", True
    # dropped by the rule filters (filters.py), in the order they are checked
    NOT_QUESTION = "not_question", "not a question"
    NOT_KEYWORDS = "not_keywords", "a question or a sentence, not a keyword query"
    HAS_MARKUP = "has_markup", "a keyword query holding markup, a link or a URL"
    WRONG_LANGUAGE = "wrong_language", "written in another language than its passage"
    TOO_SHORT = "too_short", "too short"
    TOO_LONG = "too_long", "too long"
    COPIED_SPAN = "copied_span", "copies a span of the passage"
    DUPLICATE = "duplicate", "the same question was already kept"
    # dropped by prepare after the filters
    EXTRA = "extra", "more questions than questions_per_chunk"
    INCONSISTENT = "inconsistent", "its passage was not in the embedding model's top k (filter_topk)"


SET_ASIDE_REASONS = frozenset(reason for reason in DropReason if reason.set_aside)
"""Reasons for reply lines that were never candidate queries (as opposed to queries the filters drop)."""
