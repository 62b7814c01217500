"""Turn a model's reply into candidate queries of its style (questions or keyword queries).

Real replies are messy: reasoning in `<think>` blocks, preambles ("Here are two questions:",
"以下是……"), numbering ("1.", "Q1:", "问题1：", "(一)"), bullets, markdown, quotes, answers and
explanations after the query. This module strips all of that and returns the candidate lines;
deciding what is a good query is `filters.py`'s job. A question ends at its last question mark; a keyword
query, which has none, ends where an explanation starts (" - ", "——", "(", ": ") or at its closing quote.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from wmemb.generate.reasons import DropReason
from wmemb.text import HAN

_THINK_BLOCK = re.compile(r"<think>.*?(?:</think>|$)", re.S | re.I)
_THINK_TAIL = re.compile(r"^.*?</think>", re.S | re.I)  # reasoning whose opening tag was in the prompt
_FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*\n?(.*?)\n?```\s*$", re.S)

_CN_NUM = "一二三四五六七八九十"
_LABEL = (
    rf"(?:q(?:uestion)?|问题|问|题|keywords?|(?:search )?query|关键词(?:组合)?|搜索词|检索词)"
    rf"\s*[0-9{_CN_NUM}]*\s*[.:：、)）]"  # Q1: / Question 2. / 问题1： / 问： / Query 1: / 关键词：
    rf"|q\s*[0-9]+\b"
)  # Q1 What ...
_ENUMERATION = (
    rf"(?:[(（]?\s*(?:[0-9]{{1,2}}|[{_CN_NUM}]{{1,3}}|[a-e])\s*[.．、):：）]"  # 1. 1) (1) 一、 a)
    rf"|[(（]\s*(?:[0-9]{{1,2}}|[{_CN_NUM}]{{1,3}})\s*[)）]"  # (1) （一）
    rf"|[0-9]{{1,2}}\s+(?=[A-Z{HAN}]))"
)  # "1 What"
_BULLET = r"[-*+•·●◦▪–—>]+"
_LEAD = re.compile(rf"^\s*(?:(?:{_BULLET})\s*|(?:{_ENUMERATION})\s*|(?:{_LABEL})\s*|#+\s*)+", re.I)
_MARKUP = re.compile(r"\*\*|__|`|~~")
_QUOTE_PAIRS = {'"': '"', "'": "'", "“": "”", "‘": "’", "「": "」", "『": "』"}
_CLOSERS = {close: open_ for open_, close in _QUOTE_PAIRS.items()}
_ANSWER_LINE = re.compile(
    r"^\s*(?:\**\s*)?(?:a(?:nswer)?\s*[0-9]*\s*[:：]|答案?\s*[0-9]*\s*[:：]|解析\s*[:：]|explanation\s*[:：]|note\s*[:：])",
    re.I,
)
_PREAMBLE = re.compile(
    r"^(?:here (?:are|is)|here's|sure|certainly|of course|okay|ok[,.!]|great|below are|the following|"
    r"以下是|以下为|下面是|好的|当然|根据(?:上面|以上|上述)?的?材料)",
    re.I,
)
# where the explanation after a keyword query starts: a spaced dash, a Chinese dash, a parenthesis, a colon
_EXPLANATION = re.compile(r"\s+(?:-{1,2}|[–—])\s+|\s*(?:—+|：|[(（])|:\s")
QUESTION_MARK = re.compile(r"[?？]")
_QUESTION_END = re.compile(r"[?？][\"'”’」』]?")


def _unquote(line: str) -> str:
    """Remove quotes around the whole line, and an opening quote whose closer was cut off with an
    explanation; quotes inside the question ("“芽孢”指的是什么？") stay."""
    while line and line[0] in _QUOTE_PAIRS:
        close = _QUOTE_PAIRS[line[0]]
        if len(line) > 1 and line.endswith(close):
            line = line[1:-1].strip()
        elif close not in line[1:]:
            line = line[1:].strip()
        else:
            break
    if line and line[-1] in _CLOSERS:  # a closing quote left over from the same kind of cut
        opener = _CLOSERS[line[-1]]
        unmatched = line.count(opener) == 1 if opener == line[-1] else opener not in line
        if unmatched:
            line = line[:-1].strip()
    return line


def strip_think(text: str) -> str:
    """Remove reasoning: whole `<think>…</think>` blocks, an unclosed `<think>` to the end, and a
    leading `…</think>` whose opening tag was part of the prompt (deepseek-r1 style)."""
    text = _THINK_BLOCK.sub("", text)
    if re.search(r"</think>", text, re.I):
        text = _THINK_TAIL.sub("", text)
    return text.strip()


def is_answer(reply: object) -> bool:
    """A reply worth keeping: text that is more than whitespace or reasoning. Anything else (empty,
    null, a reasoning model cut off before its answer) is a failed request, never a cached answer."""
    return isinstance(reply, str) and bool(strip_think(reply))


def _json_questions(text: str) -> list[str] | None:
    """Questions from a JSON reply (a list, or an object with a list under any key), else None."""
    fenced = _FENCE.match(text)
    body = fenced.group(1) if fenced else text
    start = min((i for i in (body.find("{"), body.find("[")) if i >= 0), default=-1)
    if start < 0:
        return None
    try:
        data, _ = json.JSONDecoder().raw_decode(body[start:])
    except json.JSONDecodeError:
        return None
    if isinstance(data, dict):
        data = next((value for value in data.values() if isinstance(value, list)), None)
    if not isinstance(data, list):
        return None
    items = [(item.get("question") or item.get("query")) if isinstance(item, dict) else item for item in data]
    return [item.strip() for item in items if isinstance(item, str) and item.strip()]


def clean_line(line: str) -> str:
    """One line without its numbering/bullets/labels, markup, surrounding quotes and anything after
    the last question mark (answers, explanations in parentheses)."""
    line = _MARKUP.sub("", line).strip()
    line = _LEAD.sub("", line).strip()
    marks = list(_QUESTION_END.finditer(line))
    if marks:
        line = line[: marks[-1].end()]
    line = _unquote(line.strip())
    # a label can sit inside the quotes that were just removed
    return _unquote(_LEAD.sub("", line).strip())


def clean_keyword_line(line: str) -> str:
    """One keyword query without numbering/bullets/labels, markup, quotes and what explains it after the query
    ("perl hash slice - how slices work", "“正则 贪婪”——用于……")."""
    line = _LEAD.sub("", _MARKUP.sub("", line).strip()).strip()
    if line[:1] in _QUOTE_PAIRS and (end := line.find(_QUOTE_PAIRS[line[0]], 1)) > 1:
        line = line[1:end]  # the quoted query; what follows it explains it
    line = _EXPLANATION.split(line, maxsplit=1)[0]
    return _unquote(line.strip().rstrip(",，.。;；、").strip())


CLEANERS = {"questions": clean_line, "keywords": clean_keyword_line}
"""How a candidate line of each query style is cleaned."""


@dataclass(frozen=True)
class ParsedReply:
    questions: list[str]  # candidate queries, in order
    discarded: list[tuple[str, DropReason]]  # (line, reason) for the lines that are not candidates


def parse_reply(text: str, style: str = "questions") -> ParsedReply:
    """Candidate queries of `style` from one model reply, and the lines set aside: PREAMBLE (announcements, headers,
    code fences), ANSWER (answers and explanations) and MARKUP (lines with no text)."""
    clean = CLEANERS[style]
    text = strip_think(text)
    from_json = _json_questions(text)
    if from_json is not None:
        return ParsedReply([clean(item) for item in from_json if clean(item)], [])
    questions, discarded = [], []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        if _ANSWER_LINE.match(_MARKUP.sub("", raw)):
            discarded.append((raw.strip(), DropReason.ANSWER))
            continue
        line = clean(raw)
        if not line:
            discarded.append((raw.strip(), DropReason.MARKUP))  # "---", a lone "1.", "**"
            continue
        is_question = bool(QUESTION_MARK.search(line))
        if not is_question and (_PREAMBLE.match(line) or line.endswith((":", "：")) or line.startswith("```")):
            discarded.append(
                (raw.strip(), DropReason.PREAMBLE)
            )  # "Here are two questions:", "以下是两个问题：", headers
            continue
        if is_question and _PREAMBLE.match(line) and re.search(r"[:：]\s*\S", line):
            line = re.split(r"[:：]", line, maxsplit=1)[1].strip()  # "Sure! Here it is: What is X?"
        questions.append(line)
    return ParsedReply(questions, discarded)
