"""Keep only good synthetic queries; count every reason a candidate was dropped.

Rule filters (cheap, always on): not a question, written in another language than its passage
(`wrong_language`; checked for Chinese and English passages, see `expected_language`), too short/long,
copies a long span of its passage, duplicate of an earlier query (after normalisation). The optional
consistency filter keeps a query only if the base embedding model ranks its own passage in the top K of
all passages - the round-trip filter used for synthetic retrieval data (e.g. Promptagator, InPars).
"""

from __future__ import annotations

import difflib
import logging
import re
import unicodedata
from dataclasses import dataclass

from wmemb.models import query_prompt, resolve_model
from wmemb.text import HAN, han_share, text_language

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


@dataclass(frozen=True)
class FilterRules:
    min_units: int = 3  # a unit is a Han character or a word of letters/digits
    max_units: int = 64
    copy_min_units: int = 10  # a copied span this long ...
    copy_fraction: float = 0.7  # ... covering this share of the question means it copies the passage


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

    `check_language`: drop questions not written in their passage's language (off where a custom prompt
    decides the language of the questions)."""

    def __init__(self, rules: FilterRules = FilterRules(), check_language: bool = True):
        self.rules = rules
        self.check_language = check_language
        self.seen: set[str] = set()

    def reason_to_drop(self, question: str, passage: str, language: str | None = None) -> str | None:
        """None to keep the question, else the name of the filter that drops it; `language`: the one it must be
        written in (`expected_language` of the passage), None for any."""
        if not is_question(question):
            return "not_question"
        if self.check_language and not in_language(question, language):
            return "wrong_language"
        question_units = units(question)
        if len(question_units) < self.rules.min_units:
            return "too_short"
        if len(question_units) > self.rules.max_units:
            return "too_long"
        if copies_passage(question_units, units(passage), self.rules):
            return "copied_span"
        key = "".join(question_units)  # duplicates differ only in case, spaces, punctuation, width
        if key in self.seen:
            return "duplicate"
        self.seen.add(key)
        return None

    def keep(self, questions: list[str], passage: str) -> tuple[list[str], list[tuple[str, str]]]:
        """(kept questions, [(dropped question, reason)])."""
        kept, dropped = [], []
        language = expected_language(passage) if self.check_language else None
        for question in questions:
            reason = self.reason_to_drop(question, passage, language)
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
