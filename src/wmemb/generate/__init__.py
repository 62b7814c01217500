"""Synthetic query generation (`prepare`): prompts, LLM backends, parsing, filters, resumable cache."""

from wmemb.generate.prepare import (
    PrepareOptions,
    PrepareSummary,
    SplitResult,
    import_llama_index_dataset,
    prepare_datasets,
)

__all__ = ["PrepareOptions", "PrepareSummary", "SplitResult", "import_llama_index_dataset", "prepare_datasets"]
