"""The names of the files a run writes for one corpus name, built in this one place.

split writes `<name>_{train,val}_nodes.jsonl` and `<name>_split_summary.json`; prepare, into its own folder,
`<name>_{train,val}_dataset.json`, `..._replies.jsonl` (its reply cache), `..._dropped.jsonl` (every dropped
candidate question, and why), `<name>_prepare_summary.json` and `<name>_prepare_failures.jsonl`; mine
`<name>_train_mined.jsonl`. The pipeline's working folder (pipeline.WorkPaths) and the run report find them
by the same names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SPLITS = ("train", "val")


@dataclass(frozen=True)
class RunNames:
    """File names for the run (corpus) `name`; a `split` is "train" or "val"."""

    name: str

    @classmethod
    def of_nodes(cls, nodes_path: str | os.PathLike) -> RunNames:
        """The run that wrote a node file: `book` for `book_train_nodes.jsonl` (any other file: its stem)."""
        stem = Path(nodes_path).stem
        for split in SPLITS:
            suffix = f"_{split}_nodes"
            if stem.endswith(suffix):
                return cls(stem[: -len(suffix)])
        return cls(stem)

    def nodes(self, split: str) -> str:
        return f"{self.name}_{split}_nodes.jsonl"

    def split_summary(self) -> str:
        return f"{self.name}_split_summary.json"

    def dataset(self, split: str) -> str:
        return f"{self.name}_{split}_dataset.json"

    def replies(self, split: str) -> str:
        return f"{self.name}_{split}_replies.jsonl"

    def dropped(self, split: str) -> str:
        return f"{self.name}_{split}_dropped.jsonl"

    def prepare_summary(self) -> str:
        return f"{self.name}_prepare_summary.json"

    def prepare_failures(self) -> str:
        return f"{self.name}_prepare_failures.jsonl"

    def mined(self) -> str:
        return f"{self.name}_train_mined.jsonl"
