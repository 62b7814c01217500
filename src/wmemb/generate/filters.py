"""Keep only good synthetic queries; count every reason a candidate was dropped.

Rule filters (cheap, always on): not of its style (`not_question`; a keyword query that is a question or a
sentence: `not_keywords`, or holds markup: `has_markup`), written in another language than its passage
(`wrong_language`; checked for Chinese and English passages, see `expected_language`), too short/long,
copies a long span of its passage, duplicate of an earlier query of any style (after normalisation). Questions
are measured in units (Han characters and words); keyword queries in the words lexical search indexes
(`wmemb.text.search_words`: jieba words for Chinese) that hold a letter, and copy their passage when the whole
query is one run of it (`KEYWORD_RULES`). The optional consistency filter keeps a query only if the base
embedding model ranks its own passage in the top K of all passages - the round-trip filter used for synthetic
retrieval data (e.g. Promptagator, InPars).
"""

from __future__ import annotations

import difflib
import logging
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from wmemb.generate.reasons import DropReason
from wmemb.models import query_prompt, resolve_model
from wmemb.text import ENGLISH_WORDS, HAN, han_share, search_words, text_language

log = logging.getLogger(__name__)

_UNIT = re.compile(rf"[{HAN}]|[^\W_]+")
_EN_INTERROGATIVE = re.compile(
    r"^(?:what|how|why|which|who|whom|whose|when|where|is|are|was|were|do|does|did|can|could|"
    r"should|would|will|has|have|had|in what|according to|list|name|explain|describe)\b",
    re.I,
)
_ZH_INTERROGATIVE = re.compile(
    r"什么|如何|怎么|怎样|为什么|为何|哪|是否|吗|呢|多少|几|何时|何种|谁|是不是|有没有|能否|可否"
)


# A keyword query starting so, or holding these Chinese question words, is a question; one holding a copula or this
# many English function words is a sentence ("Perl is easy to learn", the fragments a small model writes instead of
# keywords). Narrower than the question test: "list", "name", "can" start keyword queries too.
_EN_QUESTION_WORD = re.compile(r"^(?:what|how|why|which|who|whom|whose|when|where)\b", re.I)
_ZH_QUESTION_WORD = re.compile(r"吗|呢|什么|怎么|怎样|如何|为什么|为何|哪些|哪个|哪里|是否|能否|可否")
SENTENCE_FUNCTION_WORDS = 3
_COPULAS = frozenset({"is", "are", "was", "were"})
_MARKUP = re.compile(r"</?[A-Za-z][^>]*>|\]\(|&[a-z]+;|https?://|\{\{|\}\}")  # HTML, markdown links, URLs, templates


@dataclass(frozen=True)
class FilterRules:
    min_units: int = 3  # a unit is a Han character or a word of letters/digits
    max_units: int = 64
    copy_min_units: int = 10  # a copied span this long ...
    copy_fraction: float = 0.7  # ... covering this share of the question means it copies the passage


KEYWORD_RULES = FilterRules(min_units=2, max_units=8, copy_min_units=4, copy_fraction=1.0)
"""Keyword queries, in search words: the prompts ask for 2-6 words (2-4 Chinese terms, which jieba may cut finer,
hence 8), and a query of 4 or more words found as one run in its passage is a phrase lifted from it, not search
terms (2-3 words in a row, "hash slice", are how people search)."""


def units(text: str) -> list[str]:
    """Han characters and lowercased words: a length and overlap measure fair to both languages."""
    return _UNIT.findall(unicodedata.normalize("NFKC", text).lower())


def is_question(text: str) -> bool:
    stripped = text.strip()
    if stripped.endswith(("?", "？")):
        return True
    if stripped.endswith((":", "：")):
        return False
    return bool(_EN_INTERROGATIVE.match(stripped) or _ZH_INTERROGATIVE.search(stripped))


def keyword_shape(text: str) -> DropReason | None:
    """Why `text` is not a keyword query, or None: NOT_KEYWORDS (a question or a sentence), HAS_MARKUP (HTML, a link,
    a URL)."""
    stripped = text.strip()
    if _MARKUP.search(stripped):
        return DropReason.HAS_MARKUP
    words = search_words(stripped)
    function_words = sum(word in ENGLISH_WORDS for word in words)
    if (
        stripped.endswith(("?", "？", ".", "。", "!", "！"))
        or _EN_QUESTION_WORD.match(stripped)
        or _ZH_QUESTION_WORD.search(stripped)
        or function_words >= SENTENCE_FUNCTION_WORDS
        or not _COPULAS.isdisjoint(words)
    ):
        return DropReason.NOT_KEYWORDS
    return None


def question_shape(text: str) -> DropReason | None:
    return None if is_question(text) else DropReason.NOT_QUESTION


@dataclass(frozen=True)
class StyleChecks:
    """What makes a candidate of one query style: its shape, and what its length and copying are measured in."""

    shape: Callable[[str], DropReason | None]  # None, or the reason it is not of the style
    measure: Callable[[str], list[str]]


def keyword_words(text: str) -> list[str]:
    """The words of a keyword query that name something: search words holding a letter or Han character (a version
    number or "[4D.1]" alone is not a query)."""
    return [word for word in search_words(text) if any(char.isalpha() for char in word)]


STYLE_CHECKS = {
    "questions": StyleChecks(question_shape, units),
    "keywords": StyleChecks(keyword_shape, keyword_words),
}


def copies_passage(question: list[str], passage: list[str], rules: FilterRules) -> bool:
    if len(question) < rules.copy_min_units:
        return False
    match = difflib.SequenceMatcher(None, question, passage, autojunk=False).find_longest_match(
        0, len(question), 0, len(passage)
    )
    return match.size >= rules.copy_min_units and match.size >= rules.copy_fraction * len(question)


MIXED_SHARE = 1 / 3
"""A passage whose Han characters, or whose other words, are between this share and its complement of the two is
written in both languages: a question in either is about it."""


def expected_language(passage: str) -> str | None:
    """The language a question about `passage` must be written in: "zh" or "en" (`text_language` of the
    passage), or None (not checked) for a passage in both (MIXED_SHARE), in another language or of code
    alone, where the question's language says little."""
    if MIXED_SHARE <= han_share(passage) <= 1 - MIXED_SHARE:
        return None
    language = text_language(passage)
    return language if language in ("zh", "en") else None


def in_language(text: str, language: str | None) -> bool:
    """Whether `text` is written in `language` (None, or a text with no letters: nothing to check)."""
    found = text_language(text)
    return language is None or not found or found == language


class QueryFilter:
    """Stateful across one dataset: remembers queries seen so duplicates are dropped everywhere.

    `rules`: of questions; `keyword_rules`: of keyword queries."""

    def __init__(self, rules: FilterRules = FilterRules(), keyword_rules: FilterRules = KEYWORD_RULES):
        self.rules = {"questions": rules, "keywords": keyword_rules}
        self.seen: set[str] = set()

    def reason_to_drop(
        self, question: str, passage: str, language: str | None = None, style: str = "questions"
    ) -> DropReason | None:
        """None to keep the query, else the reason the filters drop it; `language`: the one it must be
        written in (`expected_language` of the passage), None for any."""
        checks, rules = STYLE_CHECKS[style], self.rules[style]
        wrong_shape = checks.shape(question)
        if wrong_shape:
            return wrong_shape
        if not in_language(question, language):
            return DropReason.WRONG_LANGUAGE
        measured = checks.measure(question)
        if len(measured) < rules.min_units:
            return DropReason.TOO_SHORT
        if len(measured) > rules.max_units:
            return DropReason.TOO_LONG
        if copies_passage(measured, checks.measure(passage), rules):
            return DropReason.COPIED_SPAN
        key = "".join(units(question))  # duplicates differ only in case, spaces, punctuation, width
        if key in self.seen:
            return DropReason.DUPLICATE
        self.seen.add(key)
        return None

    def keep(
        self, questions: list[str], passage: str, style: str = "questions", check_language: bool = True
    ) -> tuple[list[str], list[tuple[str, DropReason]]]:
        """(kept queries, [(dropped query, reason)]), for candidates of `style`. `check_language`: drop queries not
        written in their passage's language (off where a custom prompt decides the language of the questions)."""
        kept, dropped = [], []
        language = expected_language(passage) if check_language else None
        for question in questions:
            reason = self.reason_to_drop(question, passage, language, style)
            if reason is None:
                kept.append(question)
            else:
                dropped.append((question, reason))
        return kept, dropped


def consistent_queries(
    queries: dict[str, str], relevant: dict[str, str], corpus: dict[str, str], embed_model: str | None, top_k: int
) -> set[str]:
    """Ids of the queries whose own passage the embedding model ranks in the top `top_k` of `corpus`."""
    import torch
    from sentence_transformers import SentenceTransformer

    folder = resolve_model(embed_model)
    prompt = query_prompt(embed_model)
    log.info(
        "consistency filter: %s ranks %d queries against %d passages (top %d, query instruction: %s)",
        folder,
        len(queries),
        len(corpus),
        top_k,
        "yes" if prompt else "none",
    )
    model = SentenceTransformer(str(folder), device="cpu" if not torch.cuda.is_available() else None)
    doc_ids = list(corpus)
    doc_vectors = model.encode(
        [corpus[d] for d in doc_ids],
        normalize_embeddings=True,
        convert_to_tensor=True,
        show_progress_bar=len(doc_ids) > 256,
    )
    query_ids = list(queries)
    query_vectors = model.encode(
        [queries[q] for q in query_ids],
        prompt=prompt,
        normalize_embeddings=True,
        convert_to_tensor=True,
        show_progress_bar=len(query_ids) > 256,
    )
    top = torch.topk(query_vectors @ doc_vectors.T, k=min(top_k, len(doc_ids)), dim=1).indices.tolist()
    return {qid for qid, ranked in zip(query_ids, top) if relevant[qid] in {doc_ids[i] for i in ranked}}
