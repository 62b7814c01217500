"""Training and validation data for `finetune` and `mine`, read from either supported format.

- llama_index JSON (`*_dataset.json`, written by `prepare`): every relevant doc of a query is a
  positive, so a query with two relevant passages gives two (anchor, positive) rows.
- FlagEmbedding JSONL (`query`, `pos`, `neg`, optional `prompt`): one row per positive, each with
  the same number of hard negatives (FlagEmbedding's train_group_size - 1 at most).

Validation data is read by `wmemb.records.read_qa_dataset` (any layout) for the retrieval evaluator.
"""

from __future__ import annotations

import logging
import os
import random
from dataclasses import dataclass
from pathlib import Path

from wmemb.errors import WMEmbError
from wmemb.records import PairRecord, is_pairs_file, read_pairs, read_qa_dataset

log = logging.getLogger(__name__)

MAX_HARD_NEGATIVES = 7
"""FlagEmbedding's default train_group_size is 8: one positive and 7 negatives per query."""


@dataclass
class TrainingRows:
    """Columns for the trainer: anchor, positive, negative_1..negative_k (k may be 0)."""

    anchors: list[str]
    positives: list[str]
    negatives: list[list[str]]  # one list of exactly `negatives_per_row` texts per row
    prompt: str | None = None  # the query instruction the file itself carries (FlagEmbedding `prompt`)

    def __len__(self) -> int:
        return len(self.anchors)

    @property
    def negatives_per_row(self) -> int:
        return len(self.negatives[0]) if self.negatives else 0

    def distinct_positives(self) -> int:
        return len(set(self.positives))

    def texts(self) -> list[str]:
        """Every passage text (positives and negatives), for measuring lengths."""
        return self.positives + [text for row in self.negatives for text in row]

    def to_dataset(self):
        from datasets import Dataset

        columns = {"anchor": self.anchors, "positive": self.positives}
        for index in range(self.negatives_per_row):
            columns[f"negative_{index + 1}"] = [row[index] for row in self.negatives]
        return Dataset.from_dict(columns)


def load_training_rows(path: str | os.PathLike, seed: int = 42) -> TrainingRows:
    """Read a training file of either format into rows; bad input raises one clear WMEmbError."""
    path = Path(path).expanduser()
    if is_pairs_file(path):
        return _rows_from_pairs(path, read_pairs(path), seed)
    dataset = read_qa_dataset(path)
    anchors, positives = [], []
    for qid, query in dataset.queries.items():
        for doc_id in dataset.relevant_docs[qid]:
            anchors.append(query)
            positives.append(dataset.corpus[doc_id])
    log.info("%s: %d queries, %d (query, passage) pairs", path, len(dataset.queries), len(anchors))
    return TrainingRows(anchors, positives, [[] for _ in anchors])


def _rows_from_pairs(path: Path, records: list[PairRecord], seed: int) -> TrainingRows:
    prompts = {record.prompt for record in records if record.prompt}
    if len(prompts) > 1:
        raise WMEmbError(
            f'{path}: lines carry {len(prompts)} different "prompt" values; wmemb trains with one '
            "query instruction - remove them and pass --query-instruction"
        )
    fewest = min(len(record.neg) for record in records)
    most = max(len(record.neg) for record in records)
    per_row = min(MAX_HARD_NEGATIVES, most)
    if fewest == 0 and most > 0:
        log.warning("%s: some lines have no hard negatives; training on in-batch negatives only", path)
        per_row = 0
    elif per_row:
        log.info(
            "%s: %d hard negatives per query (lines with fewer repeat theirs, as FlagEmbedding does)", path, per_row
        )
    rng = random.Random(seed)
    anchors, positives, negatives = [], [], []
    for record in records:
        for positive in record.pos:
            anchors.append(record.query)
            positives.append(positive)
            if len(record.neg) >= per_row:
                negatives.append(rng.sample(record.neg, per_row))
            else:
                negatives.append(rng.choices(record.neg, k=per_row))
    log.info("%s: %d queries, %d rows", path, len(records), len(anchors))
    return TrainingRows(anchors, positives, negatives, prompt=prompts.pop() if prompts else None)
