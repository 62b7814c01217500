"""Fixtures: small bilingual datasets written as real files."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.train_samples import qa_dataset, write_json


@pytest.fixture()
def train_val(tmp_path) -> tuple[Path, Path]:
    """32 passages with two questions each for training, 12 other passages for validation."""
    return (
        write_json(tmp_path / "t_train_dataset.json", qa_dataset(0, 32, questions_per_passage=2)),
        write_json(tmp_path / "t_val_dataset.json", qa_dataset(100, 12)),
    )
