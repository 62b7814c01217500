"""Evaluation data: queries, a corpus, and which passages answer which query, with a name for reports.

Any layout `wmemb.records.read_qa_dataset` reads: llama_index JSON (`*_val_dataset.json` from
`prepare`, or a file llama_index wrote), FlagEmbedding JSONL, or a BEIR folder (`split` picks
`qrels/<split>.tsv`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from wmemb.errors import WMEmbError
from wmemb.records import DATASET_HINT, QADataset, read_qa_dataset

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalData:
    """A validated evaluation set; `name` labels it in reports."""

    name: str
    source: Path
    dataset: QADataset

    @property
    def queries(self) -> dict[str, str]:
        return self.dataset.queries

    @property
    def corpus(self) -> dict[str, str]:
        return self.dataset.corpus

    @property
    def relevant_docs(self) -> dict[str, list[str]]:
        return self.dataset.relevant_docs


def load_eval_data(path: str | os.PathLike, split: str = "test") -> EvalData:
    """Read an evaluation set; a folder is named `<folder>/<split>` in reports, a file by its stem."""
    source = Path(path).expanduser()
    if not source.exists():
        raise WMEmbError(f"{source}: evaluation dataset not found; pass {DATASET_HINT}")
    name = f"{source.name}/{split}" if source.is_dir() else source.stem
    data = EvalData(name=name, source=source, dataset=read_qa_dataset(source, split))
    log.info("evaluation data %s: %d queries, %d passages", data.name, len(data.queries), len(data.corpus))
    return data
