"""Fixtures for the prepare tests: node files on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.prepare_inputs import EN_PASSAGES, ZH_PASSAGES, write_node_files


@pytest.fixture
def node_files(tmp_path) -> tuple[Path, Path]:
    """Train: 4 English + 2 Chinese passages; val: 2 English + 1 Chinese."""
    return write_node_files(tmp_path / "nodes", EN_PASSAGES[:4] + ZH_PASSAGES[:2], EN_PASSAGES[4:] + ZH_PASSAGES[2:])
