"""Stage 4: find domain terms (`vocab suggest`) and add them to a model's tokenizer and embeddings (`expand`)."""

from wmemb.vocab.expand import INIT_METHODS, ExpandReport, Overlap, TermReport, expand_model
from wmemb.vocab.suggest import Candidate, SuggestOptions, SuggestResult, suggest_terms, write_terms_tsv
from wmemb.vocab.wordfile import read_word_file, validate_terms

__all__ = [
    "INIT_METHODS",
    "Candidate",
    "ExpandReport",
    "Overlap",
    "SuggestOptions",
    "SuggestResult",
    "TermReport",
    "expand_model",
    "read_word_file",
    "suggest_terms",
    "validate_terms",
    "write_terms_tsv",
]
