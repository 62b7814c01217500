"""Synthetic query generation (`prepare`): prompts, LLM backends, parsing, filters, resumable cache.

The names below load `prepare` (and with it tqdm, the filters' models module) on first use, so that importing a light
submodule, such as the settings reading `backends.LLM_CHOICES`, does not."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wmemb.generate.prepare import (
        DatasetSummary,
        PrepareOptions,
        PrepareSummary,
        import_llama_index_dataset,
        prepare_datasets,
    )

__all__ = ["DatasetSummary", "PrepareOptions", "PrepareSummary", "import_llama_index_dataset", "prepare_datasets"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("wmemb.generate.prepare"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
