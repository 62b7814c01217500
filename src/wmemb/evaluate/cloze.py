"""A held-out judge the question writer never touched: one sentence of a passage finds the rest of it.

The run's own validation asks questions written by the same LLM that wrote the training questions,
so a model that learns the LLM's question style scores well there whatever it does for people's
questions. This set is built from the passages alone (the Inverse Cloze Task of Lee et al., 2019):
from each passage one sentence, chosen by a seeded hash, is cut out and becomes the query; the
passage without it is the one relevant document among every other passage. Nothing an LLM wrote
is in it, and the sentences are the documentation's own words, in its own languages.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from wmemb.corpus.sentences import clean, sentences
from wmemb.generate.filters import units
from wmemb.records import QADataset


@dataclass(frozen=True)
class ClozeRules:
    min_sentences: int = 3  # a passage of 1-2 sentences has too little left once one is cut out
    min_units: int = 6  # a query sentence needs some content (units: Han characters or words)
    max_units: int = 48  # long sentences carry most of their passage's words: too easy


def cloze_dataset(passages: Iterable[tuple[str, str]], seed: int = 0, rules: ClozeRules = ClozeRules()) -> QADataset:
    """(passage id, text) pairs -> queries (cut-out sentences), a corpus of every passage (those that
    gave a query without that sentence) and one relevant passage per query."""
    queries: dict[str, str] = {}
    corpus: dict[str, str] = {}
    relevant: dict[str, list[str]] = {}
    for passage_id, text in passages:
        corpus[passage_id] = text
        spans = list(sentences(text))
        if len(spans) < rules.min_sentences:
            continue
        candidates = [
            (start, end) for start, end in spans if rules.min_units <= len(units(text[start:end])) <= rules.max_units
        ]
        if not candidates:
            continue
        digest = hashlib.sha256(f"{seed}:{passage_id}".encode()).digest()
        start, end = candidates[int.from_bytes(digest[:4], "big") % len(candidates)]
        query_id = f"cloze-{passage_id}"
        queries[query_id] = clean(text[start:end])
        corpus[passage_id] = clean(text[:start] + "\n\n" + text[end:])
        relevant[query_id] = [passage_id]
    return QADataset(queries=queries, corpus=corpus, relevant_docs=relevant)
