"""How many training texts contain each added term.

Contrastive fine-tuning moves a new token's embedding row only through the training pairs whose
question or passage contains it; a term no pair contains keeps its initial row (the mean of its old
pieces) whatever the fine-tuning does. Counting is done with the expanded tokenizer, so a term counts
where it really is one token, not where its letters happen to appear.
"""

from __future__ import annotations

from dataclasses import dataclass

from wmemb.jsonable import JsonRecord
from wmemb.records import QADataset

UNCOVERED_EXAMPLES = 5


@dataclass(frozen=True)
class TermCoverage(JsonRecord):
    term: str
    queries: int  # training questions containing the term's token
    passages: int  # training passages with at least one question that contain it

    @property
    def covered(self) -> bool:
        return self.queries + self.passages > 0


def paired_passages(dataset: QADataset) -> list[str]:
    """The passages that are the answer to at least one training question: what the pairs are made of."""
    ids = dict.fromkeys(doc for docs in dataset.relevant_docs.values() for doc in docs)
    return [dataset.corpus[doc] for doc in ids]


def term_coverage(tokenizer, token_ids: dict[str, int], dataset: QADataset) -> list[TermCoverage]:
    """Per added term (term -> its token id in `tokenizer`): training questions and paired passages containing it."""
    queries, passages = list(dataset.queries.values()), paired_passages(dataset)
    token_sets = [set(ids) for ids in tokenizer(queries + passages, add_special_tokens=False)["input_ids"]]
    in_queries, in_passages = token_sets[: len(queries)], token_sets[len(queries) :]
    return [
        TermCoverage(term, sum(token_id in ids for ids in in_queries), sum(token_id in ids for ids in in_passages))
        for term, token_id in token_ids.items()
    ]


def uncovered_summary(coverage: list[TermCoverage], examples: int = UNCOVERED_EXAMPLES) -> str | None:
    """One line naming the terms no training pair contains (their rows only learn in an adaptation pass), or None."""
    uncovered = [item.term for item in coverage if not item.covered]
    if not uncovered:
        return None
    shown = ", ".join(repr(term) for term in uncovered[:examples])
    more = f", ... {len(uncovered) - examples} more" if len(uncovered) > examples else ""
    return (
        f"{len(uncovered)} of {len(coverage)} added terms occur in no training question or passage "
        f"(e.g. {shown}{more}): "
        "fine-tuning cannot train their embeddings; ask questions about passages with them, drop them, "
        "or set expand_adapt_epochs"
    )
