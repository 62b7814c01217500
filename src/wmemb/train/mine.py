"""Hard-negative mining, FlagEmbedding style: passages the model ranks high for a query that are not
its answer.

The corpus is encoded once (batched); queries are searched in chunks against it (faiss when
installed, else an exact matrix product), so memory is the corpus embeddings plus one chunk of at
most SCORE_BUDGET scores, whatever the corpus size. Negatives are sampled from a rank window that
skips the very top (FlagEmbedding: ranks 10-210), because the top hits of a synthetic dataset are
often unlabelled answers; a margin relative to the positive's score drops near-duplicates of the
answer as well.
"""

from __future__ import annotations

import logging
import os
import random
from dataclasses import dataclass
from pathlib import Path

from wmemb.errors import WMEmbError
from wmemb.io import check_output_file, reject_overwriting_inputs
from wmemb.jsonable import JsonRecord
from wmemb.models import load_sentence_model
from wmemb.records import PairRecord, read_qa_dataset, write_pairs
from wmemb.search import SCORE_BUDGET, check_vectors_fit
from wmemb.settings import check_options
from wmemb.train.model import decide_query_instruction

log = logging.getLogger(__name__)

QUERY_CHUNK = 256  # most queries searched at once; fewer on corpora too large for SCORE_BUDGET


@dataclass
class MineOptions:
    range_min: int = 10  # ranks [range_min, range_max) of the search results are candidates
    range_max: int = 210
    negatives: int = 7  # per query (FlagEmbedding's train_group_size 8 = 1 positive + 7 negatives)
    relative_margin: float = 0.05  # a negative must score below (1 - margin) x the lowest positive score
    batch_size: int = 64  # encoding batch
    query_instruction: str | None = None
    no_query_instruction: bool = False
    use_faiss: bool | None = None  # None: faiss when importable
    seed: int = 42

    def check(self) -> None:
        check_options(self)  # no field takes a setting of `wmemb run` (its mine stage runs with these defaults)
        # options of the mine command only, not settings of `wmemb run`
        if self.range_min < 0 or self.range_max <= self.range_min:
            raise WMEmbError(
                f"the rank window needs 0 <= --range-min < --range-max (got {self.range_min}..{self.range_max})"
            )
        if self.negatives < 1:
            raise WMEmbError(f"--negatives {self.negatives}: must be at least 1")
        if not 0 <= self.relative_margin < 1:
            raise WMEmbError(f"--margin {self.relative_margin}: must be at least 0 and less than 1")
        if self.batch_size < 1:
            raise WMEmbError(f"--batch-size {self.batch_size}: must be at least 1")


@dataclass
class MineSummary(JsonRecord):
    output_path: Path
    queries: int
    corpus: int
    backend: str  # "faiss" or "exact"
    window: tuple[int, int]  # the rank window actually used (clamped for small corpora)
    negatives_per_query: int
    filled_at_random: int  # negatives drawn from outside the window because the window ran short


def mine(
    dataset: str | os.PathLike,
    output: str | os.PathLike,
    model: str | os.PathLike | None = None,
    options: MineOptions | None = None,
) -> MineSummary:
    """Write FlagEmbedding JSONL for `dataset` (llama_index JSON or FlagEmbedding JSONL) with mined negatives."""
    import numpy as np
    from tqdm import tqdm

    options = options or MineOptions()
    options.check()
    output = check_output_file(output)
    reject_overwriting_inputs([output], [("DATASET", dataset)])
    data = read_qa_dataset(dataset)  # queries, corpus and relevant docs, whatever the input format
    loaded = load_sentence_model(model)
    st_model = loaded.model
    instruction = decide_query_instruction(loaded.folder, options.query_instruction, options.no_query_instruction)
    corpus_ids = list(data.corpus)
    corpus_texts = [data.corpus[cid] for cid in corpus_ids]
    size = len(corpus_ids)
    most_positives = max(len(docs) for docs in data.relevant_docs.values())
    negatives = min(options.negatives, size - most_positives)
    if negatives < 1:
        raise WMEmbError(
            f"{dataset}: the corpus has only {size} passages, all positives of some query; nothing to mine"
        )
    if negatives < options.negatives:
        log.warning(
            "the corpus has only %d passages: %d negatives per query instead of %d", size, negatives, options.negatives
        )
    window = _clamp_window(options.range_min, options.range_max, size, negatives + most_positives)
    log.info(
        "rank window %d..%d of %d passages, margin %.2f relative to the positive's score",
        window[0],
        window[1],
        size,
        options.relative_margin,
    )

    check_vectors_fit(
        size, st_model.get_embedding_dimension(), "mine fewer passages, or turn mining off (mine = false)"
    )
    corpus_embeddings = st_model.encode(
        corpus_texts,
        batch_size=options.batch_size,
        convert_to_numpy=True,
        normalize_embeddings=True,
        show_progress_bar=True,
    ).astype(np.float32)
    search, backend = _searcher(corpus_embeddings, options.use_faiss)
    log.info("search backend: %s", backend)
    position = {cid: index for index, cid in enumerate(corpus_ids)}
    rng = random.Random(options.seed)
    qids = list(data.queries)
    # all queries at once (they are few, bounded by what an LLM was asked): their vectors then do not
    # depend on how the search is chunked
    all_query_embeddings = st_model.encode(
        [data.queries[qid] for qid in qids],
        prompt=instruction or None,
        batch_size=options.batch_size,
        convert_to_numpy=True,
        normalize_embeddings=True,
    ).astype(np.float32)
    records, filled = [], 0
    # the exact search holds chunk x corpus scores (faiss as many results): the chunk shrinks as the corpus grows
    chunk_size = max(1, min(QUERY_CHUNK, SCORE_BUDGET // size))
    for start in tqdm(range(0, len(qids), chunk_size), desc="mining", unit="chunk"):
        chunk = qids[start : start + chunk_size]
        query_embeddings = all_query_embeddings[start : start + chunk_size]
        top_scores, top_ids = search(query_embeddings, window[1])
        for row, qid in enumerate(chunk):
            positives = [position[doc] for doc in data.relevant_docs[qid]]
            positive_texts = {corpus_texts[p] for p in positives}
            positive_scores = (corpus_embeddings[positives] @ query_embeddings[row]).tolist()
            ceiling = min(positive_scores) * (1 - options.relative_margin)
            # Ranks count over the full result list: the positives' ranks are skipped, never taken. A text
            # stored under two ids is one candidate (and never a negative when it is a positive's text).
            candidates: dict[str, tuple[int, float]] = {}
            for i, score in zip(top_ids[row][window[0] :].tolist(), top_scores[row][window[0] :].tolist()):
                if i >= 0 and corpus_texts[i] not in positive_texts and score < ceiling:
                    candidates.setdefault(corpus_texts[i], (i, score))
            chosen = rng.sample(list(candidates.values()), min(negatives, len(candidates)))
            if len(chosen) < negatives:
                excluded = positive_texts | {corpus_texts[i] for i, _ in chosen}
                extra = _random_fill(
                    rng, corpus_texts, excluded, negatives - len(chosen), corpus_embeddings, query_embeddings[row]
                )
                chosen += extra
                filled += len(extra)
            records.append(
                PairRecord(
                    query=data.queries[qid],
                    pos=[corpus_texts[p] for p in positives],
                    neg=[corpus_texts[i] for i, _ in chosen],
                    pos_scores=[round(s, 6) for s in positive_scores],
                    # scored like the positives, one dot product each: a search's matrix product rounds the last
                    # digit differently with the number of queries searched at once
                    neg_scores=[round(float(corpus_embeddings[i] @ query_embeddings[row]), 6) for i, _ in chosen],
                    prompt=instruction or None,
                )
            )
    write_pairs(output, records)
    if filled:
        log.warning(
            "%d negatives were drawn at random from outside the window (too few candidates under the margin)", filled
        )
    log.info("wrote %d queries with %d negatives each to %s", len(records), negatives, output)
    return MineSummary(output, len(records), size, backend, window, negatives, filled)


def _clamp_window(range_min: int, range_max: int, size: int, needed: int) -> tuple[int, int]:
    """Keep FlagEmbedding's window on large corpora; on small ones skip fewer top ranks so that at
    least `needed` candidates remain (a 50-passage corpus cannot skip 10 and still offer 7 negatives
    from a meaningful window)."""
    high = min(range_max, size)
    low = max(0, min(range_min, high - needed))
    return low, high


def _searcher(corpus_embeddings, use_faiss: bool | None):
    """A function (query embeddings, k) -> (scores, ids), best first, and the backend's name."""
    import numpy as np

    if use_faiss is not False:
        try:
            import faiss
        except ImportError:
            if use_faiss:
                raise WMEmbError("--faiss: faiss is not installed; `pip install faiss-cpu` or drop --faiss") from None
        else:
            index = faiss.IndexFlatIP(corpus_embeddings.shape[1])
            index.add(corpus_embeddings)
            return (lambda queries, k: index.search(queries, k)), "faiss"

    import torch

    corpus = torch.from_numpy(corpus_embeddings)

    def exact(queries, k):
        scores = torch.from_numpy(queries) @ corpus.T
        top = torch.topk(scores, k, dim=1)
        return top.values.numpy(), top.indices.numpy().astype(np.int64)

    return exact, "exact"


def _random_fill(
    rng: random.Random, corpus_texts: list[str], excluded: set[str], count: int, corpus_embeddings, query_embedding
) -> list[tuple[int, float]]:
    """`count` random passages of distinct texts outside `excluded` (positives, already chosen), with scores."""
    first_of_text: dict[str, int] = {}
    for i, text in enumerate(corpus_texts):
        if text not in excluded:
            first_of_text.setdefault(text, i)
    pool = list(first_of_text.values())
    picked = rng.sample(pool, min(count, len(pool)))
    return [(i, float(corpus_embeddings[i] @ query_embedding)) for i in picked]
