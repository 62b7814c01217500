"""The run report's "Vocabulary" section: the terms the expand stage added (its ExpandReport), the tokens they
save per training passage, how many training texts hold each, and the embedding check after adding them."""

from __future__ import annotations

from wmemb.records import QADataset
from wmemb.render.charts import hbar_chart
from wmemb.render.document import CHECK_MARK, Block, Chart, Section, Table, Text
from wmemb.vocab.coverage import term_coverage, uncovered_summary
from wmemb.vocab.expand import ExpandReport

CHART_FILE = "terms.svg"


def vocabulary_section(expand: ExpandReport | None, train: QADataset) -> Section:
    """The terms the expand stage added (None: it was off or found none), how the training passages' token counts
    changed, how many training texts hold each term, and the embedding check."""
    if expand is None:
        return Section(
            "Vocabulary",
            "vocabulary",
            [Text("No terms were added in this run: expansion was off (expand = false) or found no domain terms.")],
        )
    terms = expand.terms
    added = expand.added
    passages = list(train.corpus.values())
    from transformers import AutoTokenizer  # heavy; only runs with expansion

    # read from disk each time: the expanded folder is rewritten when the stage reruns
    old_tokenizer = AutoTokenizer.from_pretrained(expand.source)
    new_tokenizer = AutoTokenizer.from_pretrained(expand.output)
    before = [len(ids) for ids in old_tokenizer(passages, add_special_tokens=False)["input_ids"]]
    after = [len(ids) for ids in new_tokenizer(passages, add_special_tokens=False)["input_ids"]]
    coverage = {
        item.term: item
        for item in term_coverage(
            new_tokenizer, {term.term: term.token_id for term in added if term.token_id is not None}, train
        )
    }
    blocks: list[Block] = []
    if passages:
        mean_before, mean_after = sum(before) / len(passages), sum(after) / len(passages)
        blocks.append(
            Text(
                f"{len(added)} of {len(terms)} requested terms were added. A training passage now takes "
                f"{mean_after:.1f} tokens instead of {mean_before:.1f} "
                f"({mean_before - mean_after:.2f} saved per passage, {(mean_before - mean_after) / mean_before:.1%})."
            )
        )
    rows: list[list[object]] = []
    counts: list[tuple[str, int]] = []
    for term in terms:
        if not term.added:
            rows.append([term.term, "skipped: " + term.reason, " ".join(term.old_pieces), "", "", ""])
            continue
        in_queries, in_passages = coverage[term.term].queries, coverage[term.term].passages
        check = (
            f"{CHECK_MARK} one token"
            if term.single_token
            else "✗ split in: " + "; ".join(s for s, ok in term.probes.items() if not ok)
        )
        rows.append([term.term, "added", " ".join(term.old_pieces), in_queries, in_passages, check])
        counts.append((term.term, in_passages))
    blocks.append(
        Table(
            [
                "term",
                "result",
                "pieces before",
                "training questions with it",
                "training passages with it (of those with a question)",
                "single-token check",
            ],
            rows,
            "lllrrl",
        )
    )
    uncovered = uncovered_summary(list(coverage.values()))
    if uncovered:
        blocks.append(Text(uncovered[0].upper() + uncovered[1:] + "."))
    if counts:
        shown = sorted(counts, key=lambda item: -item[1])[:30]
        blocks.append(
            Chart(
                CHART_FILE,
                hbar_chart("Training passages (with a question) containing each added term", shown),
                "passages per term",
            )
        )
    cosine = expand.mean_cosine
    blocks.append(
        Text(
            f"Embedding check after adding the terms: {expand.unaffected_texts} texts without new terms "
            "embed "
            + ("bit-identically" if expand.unaffected_identical else "DIFFERENTLY (unexpected)")
            + f"; {expand.affected_texts} texts with them"
            + (f" keep a mean cosine of {cosine:.4f} to their old embedding" if cosine is not None else "")
            + f"; {len(expand.overlaps)} pair(s) of terms overlap. Counts come from the expanded tokenizer.",
            note=True,
        )
    )
    return Section("Vocabulary", "vocabulary", blocks)
