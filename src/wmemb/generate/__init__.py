"""Synthetic query generation (`prepare`): prompts, LLM backends, parsing, filters, resumable cache."""

from wmemb.generate.prepare import (
    DatasetSummary,
    PrepareOptions,
    PrepareSummary,
    import_llama_index_dataset,
    prepare_datasets,
)

__all__ = ["DatasetSummary", "PrepareOptions", "PrepareSummary", "import_llama_index_dataset", "prepare_datasets"]
