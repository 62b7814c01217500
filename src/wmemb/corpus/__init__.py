"""Stage 1: read domain documents and split them into passages (`*_train_nodes.jsonl`, `*_val_nodes.jsonl`)."""

from wmemb.corpus.read import Document, read_corpus
from wmemb.corpus.split import SplitOptions, SplitSummary, Splitter, split_corpus

__all__ = ["Document", "SplitOptions", "SplitSummary", "Splitter", "read_corpus", "split_corpus"]
