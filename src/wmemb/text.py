"""Which script a character is in, and which language a text is mostly written in: Chinese or English
(`main_language`, which chooses a passage's prompt), or, for checking that a question is in its
passage's language, Chinese, English or something else (`text_language`).

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
from collections import Counter
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

# a word: a letter (not Han), then letters and digits, hyphenated parts kept together; any script
_ANY_WORD = re.compile(f"[^\\W\\d_{HAN}][^\\W_{HAN}]*(?:-[^\\W_{HAN}]+)*")

Language = Literal["zh", "en"]

# Very common English function words that are not words of the other languages most often written in Latin
# script (so no "a", "in", "on", "as", "was", "die", "do", "no"); and the same for Spanish, French, German,
# Italian, Portuguese and Dutch (no "a", "in", "was", "come", "per", "non", "mit", "lo", "su": English or common
# in technical English). See `text_language`.
ENGLISH_WORDS = frozenset(
    "the of and to is are what how why which who whom whose when where does did can could should would with "
    "for this that these those from by it its were be been has have had there their about between into used "
    "mean means".split()
)
OTHER_LATIN_WORDS = frozenset(
    # Spanish
    "el la los las del que qué es un una por para con cómo cuál cuáles cuándo dónde porque está están se sus "
    # French
    "le les des du est et une dans pour sur avec qui quoi quel quelle quels quelles pourquoi comment ce cette "
    "sont au aux ne pas qu "
    # German
    "der die das und ist sind ein eine einen wie warum welche welcher welches wer wo von zu für auf nicht den "
    "dem im "
    # Italian, Portuguese, Dutch
    "il di che è sono della delle degli perché quale quali cosa nel nella gli da dos das não uma qual quais "
    "são de het een en van wat hoe waarom welke zijn".split()
)
_KANA = ("HIRAGANA", "KATAKANA")


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


def han_share(text: str) -> float:
    """Han characters as a share of Han characters and words of other scripts (0.0 for a text with neither)."""
    han, words = han_count(text), len(_ANY_WORD.findall(unicodedata.normalize("NFKC", text)))
    return han / (han + words) if han + words else 0.0


def text_language(text: str) -> str:
    """The language of a short text such as a question, as far as checking it against its passage needs:

    - "ja" when it holds kana (Chinese never does), else "zh" when Han characters are at least as many
      as the words of all other scripts (as `main_language` counts them);
    - else the script most of its words are written in: Latin gives "en" when its words hold at least as
      many very common English function words (ENGLISH_WORDS: the, of, what, how...) as function words
      of other Latin-script languages (OTHER_LATIN_WORDS: el, le, der, che, het...), else "latin" (not
      English); Hangul gives "ko"; any other script its lowercased Unicode name ("cyrillic", "greek",
      "arabic"...);
    - "" for a text with no letters.

    A light check with no dictionary: a Latin-script question with neither kind of word ("Explain
    apt-get?") counts as English.
    """
    text = unicodedata.normalize("NFKC", text)
    han = han_count(text)
    scripts: Counter[str] = Counter()
    words = _ANY_WORD.findall(text)
    for word in words:
        scripts[unicodedata.name(word[0], "?").split(" ")[0]] += 1
    if any(script.startswith(_KANA) for script in scripts):
        return "ja"
    if han and han >= len(words):
        return "zh"
    if not words:
        return ""
    script = max(scripts, key=lambda name: (scripts[name], name == "LATIN"))
    if script == "LATIN":
        lowered = [word.lower() for word in words]
        english = sum(word in ENGLISH_WORDS for word in lowered)
        other = sum(word in OTHER_LATIN_WORDS for word in lowered) + text.count("¿") + text.count("¡")
        return "en" if english >= other else "latin"
    return "ko" if script == "HANGUL" else script.lower()


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
