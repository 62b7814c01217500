"""Which script a character is in, and which language a text is mostly written in: Chinese or English.

Two character sets, for two jobs:
- HAN, the ideographs themselves (CJK Unified Ideographs, Extension A, the Compatibility Ideographs and
  the supplementary-plane extensions B-H with the Compatibility Supplement). Language detection, unit
  counting and Chinese term extraction use it: CJK punctuation (，。) and fullwidth forms are not words.
- CJK, Han plus everything written among it without spaces and drawn two columns wide: radicals, CJK
  symbols and punctuation, kana, bopomofo, CJK compatibility forms, fullwidth forms. Joining
  hard-wrapped lines and estimating drawn widths use it ("中文。" + "下一行" joins without a space).
  Hangul syllables are not in it: Korean puts spaces between words.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from typing import Literal

HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U000323af"
"""Han ideographs as character-class ranges, for building regexes: f"[{HAN}]"."""

CJK = HAN + "\u2e80-\u33ff\u4dc0-\u4dff\ufe30-\ufe4f\uff00-\uffef"
"""CJK text characters (Han and the punctuation, kana and fullwidth forms around it) as character-class ranges."""

LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*")
"""A Latin word: a letter, then letters and digits, hyphenated parts kept together (apt-get, x86-64)."""

_HAN = re.compile(f"[{HAN}]")
_CJK = re.compile(f"[{CJK}]")
# a run of Han characters (segmented by jieba), or of other letters and digits (a word as it is)
_WORD_RUN = re.compile(f"([{HAN}]+)|[^\\W_{HAN}]+")

Language = Literal["zh", "en"]


def is_han(char: str) -> bool:
    """Whether `char` (one character) is a Han ideograph."""
    return bool(_HAN.fullmatch(char))


def is_cjk(char: str) -> bool:
    """Whether `char` (one character) is written in CJK text without spaces: Han, CJK punctuation, kana,
    fullwidth forms."""
    return bool(_CJK.fullmatch(char))


def han_count(text: str) -> int:
    return len(_HAN.findall(text))


def main_language(text: str) -> Language:
    """'zh' when Han characters are at least as many as Latin words (a Han character is about one word),
    else 'en' (also for text with neither, such as punctuation or numbers only).

    Counting Latin *words*, not letters, keeps a Chinese passage full of commands (`apt-get install`)
    Chinese."""
    han = han_count(text)
    return "zh" if han > 0 and han >= len(LATIN_WORD.findall(text)) else "en"


def search_words(text: str) -> list[str]:
    """The words lexical search (BM25) indexes: Chinese segmented into words by jieba's dictionary,
    other text into runs of letters and digits, lowercased; punctuation and spaces dropped.

    NFKC first, so that fullwidth ＢＭ２５ and BM25 are one word. "apt-get" gives "apt" and "get",
    so a question that says "apt" finds it.
    """
    words: list[str] = []
    for run in _WORD_RUN.finditer(unicodedata.normalize("NFKC", text)):
        words.extend(_jieba_cut(run.group()) if run.group(1) else [run.group().lower()])
    return words


def _jieba_cut(han: str) -> list[str]:
    import jieba  # ~1 s to load its dictionary: only when Chinese text is segmented

    jieba.setLogLevel(logging.WARNING)
    return jieba.lcut(han, HMM=False)  # dictionary words only: its HMM glues neighbouring single characters
