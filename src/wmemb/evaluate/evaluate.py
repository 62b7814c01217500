"""Evaluate embedding models on the same queries and corpus and compare them.

Each model encodes the corpus once (batched, with a progress bar) and the queries with its own
query instruction (`wmemb.models.query_prompt`: BGE models get theirs, others none); retrieval is an
exact search over all passages in bounded memory. Every model is checked before any is loaded, and
report files are written only once all models are done.

Baselines (`baselines=["bm25"]`, evaluate.bm25) add rows scored the same way: BM25, and per model
"hybrid(<label>)", BM25 and that model fused by reciprocal rank.

Vector sizes (`dims=[64, 128]`) score each model's embeddings cut to their first 64 and 128 dimensions
and normalised again (what sentence-transformers' `truncate_dim` serves, and what Matryoshka training
prepares a model for), from the same encoding: the rows "<label>@64", ... go to `result.truncated`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from wmemb.errors import WMEmbError
from wmemb.evaluate.bm25 import FUSION_DEPTH, RRF_K, BM25Index, reciprocal_rank_fusion
from wmemb.evaluate.data import EvalData, load_eval_data
from wmemb.evaluate.metrics import (
    MRR_AT,
    NDCG_AT,
    check_ks,
    ndcg_per_query,
    rank_corpus,
    relevance_matrix,
    retrieval_metrics,
    search_depth,
)
from wmemb.evaluate.report import REPORT_FILES, write_reports
from wmemb.evaluate.results import BM25_LABEL, EvaluationResult, ModelScores, QueryResult, hybrid_label
from wmemb.io import check_output_dir, reject_overwriting_inputs
from wmemb.models import check_model_folder, check_vector_sizes, load_sentence_model, query_prompt
from wmemb.search import check_vectors_fit

log = logging.getLogger(__name__)

TOP_PASSAGES = 3
"""Best-ranked passages kept per query and model (what a person reads to see what changed)."""
BASELINES = ("bm25",)
DIMS_FLAG = "--dims"


@dataclass(frozen=True)
class _IndexedData:
    """The evaluation data as arrays: passages ranked by index, indices in ascending id order."""

    query_ids: list[str]
    query_texts: list[str]
    corpus_ids: list[str]  # in id order: what the indices of a ranking point to
    corpus_texts: list[str]  # in the dataset's order, which is the order they are encoded in
    id_order: torch.Tensor  # corpus positions sorted by id: search ties then follow id order
    relevant: list[list[int]]  # per query, relevant passages as indices into the id order
    relevant_counts: np.ndarray

    @classmethod
    def build(cls, data: EvalData) -> _IndexedData:
        corpus_ids = list(data.corpus)
        id_order = sorted(range(len(corpus_ids)), key=corpus_ids.__getitem__)
        rank_of = {corpus_ids[position]: rank for rank, position in enumerate(id_order)}
        relevant = [sorted({rank_of[doc] for doc in data.relevant_docs[qid]}) for qid in data.queries]
        return cls(
            query_ids=list(data.queries),
            query_texts=list(data.queries.values()),
            corpus_ids=[corpus_ids[position] for position in id_order],
            corpus_texts=list(data.corpus.values()),
            id_order=torch.tensor(id_order, dtype=torch.long),
            relevant=relevant,
            relevant_counts=np.array([len(docs) for docs in relevant]),
        )


def evaluate_models(
    models: Sequence[str | os.PathLike],
    data: EvalData | str | os.PathLike,
    ks: Sequence[int | str] = (1, 3, 5, 10),
    out_dir: str | os.PathLike | None = None,
    batch_size: int = 32,
    split: str = "test",
    device: str | None = None,
    show_progress: bool = True,
    labels: Sequence[str] | None = None,
    baselines: Sequence[str] = (),
    dims: Sequence[int] = (),
) -> EvaluationResult:
    """Evaluate each model on `data` (an `EvalData`, a llama_index JSON file or a BEIR folder).

    `models`: folders, hub ids or "minilm"; `ks`: cut-offs for hit rate and recall; `split`: the
    qrels file of a BEIR folder; `out_dir`: where metrics.json, metrics.md and metrics.svg go;
    `labels`: names for the models in reports (default: as given; the pipeline uses "base", "finetuned");
    `baselines`: "bm25" adds the rows "bm25" and, per model, "hybrid(<label>)" (BM25 and the model
    fused by reciprocal rank), after the models' rows; `dims`: vector sizes each model is also scored at
    (`result.truncated`, labels "<label>@<size>"; a size above a model's is an error before it encodes).
    """
    ks = check_ks(ks)
    unknown = [name for name in baselines if name not in BASELINES]
    if unknown:
        raise WMEmbError(f"--baseline {unknown[0]}: unknown baseline; choose {' or '.join(BASELINES)}")
    check_vector_sizes(dims, DIMS_FLAG)
    if batch_size < 1:
        raise WMEmbError(f"--batch-size {batch_size}: must be 1 or more")
    if labels is not None and len(labels) != len(models):
        raise WMEmbError(f"{len(labels)} labels for {len(models)} models; give one label per model")
    labels = [str(label) for label in (labels if labels is not None else models)]
    if not labels and not baselines:
        raise WMEmbError("no model to evaluate; pass --model at least once, or --baseline bm25")
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise WMEmbError(f"--model {repeated[0]} is given more than once; name each model once")
    if "bm25" in baselines and BM25_LABEL in labels:
        raise WMEmbError("--model bm25: the --baseline row has that name; name the model's folder as ./bm25")
    folders = [check_model_folder(str(model)) for model in models]
    if not isinstance(data, EvalData):
        data = load_eval_data(data, split=split)
    if out_dir is not None:
        out = check_output_dir(out_dir)
        reject_overwriting_inputs([out / name for name in REPORT_FILES.values()], [("--dataset", data.source)])

    indexed = _IndexedData.build(data)
    depth = search_depth(ks, len(indexed.corpus_ids))
    bm25 = None
    if "bm25" in baselines:
        started = time.perf_counter()
        # before any model loads: a corpus BM25 cannot index fails at once
        bm25 = BM25Index.build([data.corpus[doc] for doc in indexed.corpus_ids])
        bm25_indexing = time.perf_counter() - started
        depth = max(depth, min(FUSION_DEPTH, len(indexed.corpus_ids)))  # rankings that fusion cuts at its depth
    runs = []
    scores = []
    truncated = []
    for label, folder in zip(labels, folders):
        run, *cut = _run_model(label, folder, indexed, depth, batch_size, device, show_progress, dims)
        runs.append(run)
        scores.append(_score(run, indexed, ks))
        truncated += [_score(cut_run, indexed, ks) for cut_run in cut]
    if bm25 is not None:
        started = time.perf_counter()
        ranking = bm25.rank(indexed.query_texts, depth)
        searched = time.perf_counter() - started
        # the passages were "encoded" (segmented and indexed); the queries are segmented as they are searched
        lexical = _Run(
            BM25_LABEL, bm25.description, None, ranking, len(indexed.corpus_ids), bm25_indexing, searched, baseline=True
        )
        scores.append(_score(lexical, indexed, ks))
        scores += [_score(_hybrid(run, lexical, depth), indexed, ks) for run in runs]
    result = EvaluationResult(
        dataset=data.name,
        source=str(data.source),
        queries=len(indexed.query_texts),
        passages=len(indexed.corpus_texts),
        ks=ks,
        models=scores,
        truncated=truncated,
    )
    if out_dir is not None:
        result.reports = write_reports(result, out)
    return result


@dataclass(frozen=True)
class _Run:
    """One row of the results before scoring: a ranking and what it cost."""

    label: str
    path: str  # the model's folder, or what a baseline is
    query_prompt: str | None
    ranking: np.ndarray  # per query, passage indices into the id order, best first
    encoded_texts: int
    encode_seconds: float
    search_seconds: float
    dimension: int | None = None  # of the vectors searched; None for BM25
    baseline: bool = False  # BM25 or a hybrid: reported beside the models, never chosen


def _run_model(
    label: str,
    folder: Path,
    data: _IndexedData,
    depth: int,
    batch_size: int,
    device: str | None,
    show_progress: bool,
    dims: Sequence[int] = (),
) -> list[_Run]:
    """The model's run at full size, then one per size of `dims` (searched on the same embeddings, cut)."""
    model = load_sentence_model(folder, device=device).model
    dimension = model.get_embedding_dimension()
    check_vector_sizes(dims, DIMS_FLAG, dimension)
    check_vectors_fit(len(data.corpus_texts), dimension, "evaluate on fewer passages (`wmemb run`: a lower val_ratio)")
    prompt = query_prompt(folder)
    log.info(
        "%s: device %s, similarity %s, query instruction %s",
        label,
        model.device,
        model.similarity_fn_name,
        repr(prompt) if prompt else "none",
    )

    started = time.perf_counter()
    log.info(
        "%s: encoding %d queries and %d passages (batch %d)",
        label,
        len(data.query_texts),
        len(data.corpus_texts),
        batch_size,
    )
    query_embeddings = model.encode_query(
        data.query_texts, prompt=prompt, batch_size=batch_size, show_progress_bar=show_progress, convert_to_tensor=True
    )
    corpus_embeddings = model.encode_document(
        data.corpus_texts, batch_size=batch_size, show_progress_bar=show_progress, convert_to_tensor=True
    )
    encoded = time.perf_counter()

    corpus_embeddings = corpus_embeddings[data.id_order.to(corpus_embeddings.device)]
    runs = []
    for size in (None, *dims):
        searched = time.perf_counter()
        queries, corpus = query_embeddings, corpus_embeddings
        if size is not None:
            queries, corpus = _truncated(queries, size), _truncated(corpus, size)
        runs.append(
            _Run(
                label=label if size is None else f"{label}@{size}",
                path=str(folder),
                query_prompt=prompt,
                ranking=rank_corpus(queries, corpus, depth, model.similarity),
                encoded_texts=len(data.query_texts) + len(data.corpus_texts),
                encode_seconds=encoded - started,  # the truncated sizes come from the same encoding
                search_seconds=time.perf_counter() - searched,
                dimension=size or dimension,
            )
        )
    return runs


def _truncated(embeddings: torch.Tensor, size: int) -> torch.Tensor:
    """The first `size` dimensions, normalised again (as `truncate_dim` with `normalize_embeddings=True` gives)."""
    return torch.nn.functional.normalize(embeddings[:, :size], dim=-1)


def _hybrid(dense: _Run, lexical: _Run, depth: int) -> _Run:
    """`dense` and `lexical` fused by reciprocal rank; its cost is theirs together, as a hybrid search pays both."""
    started = time.perf_counter()
    ranking = reciprocal_rank_fusion([dense.ranking, lexical.ranking], depth)
    return _Run(
        label=hybrid_label(dense.label),
        path=f"reciprocal rank fusion (k {RRF_K}) of {dense.path} and {lexical.label}",
        query_prompt=dense.query_prompt,
        ranking=ranking,
        encoded_texts=dense.encoded_texts + lexical.encoded_texts,
        encode_seconds=dense.encode_seconds + lexical.encode_seconds,
        search_seconds=dense.search_seconds + lexical.search_seconds + time.perf_counter() - started,
        baseline=True,
    )


def _score(run: _Run, data: _IndexedData, ks: tuple[int, ...]) -> ModelScores:
    ranking = run.ranking[:, : search_depth(ks, len(data.corpus_ids))]  # deeper rankings were for fusion
    hits = relevance_matrix(ranking, data.relevant, len(data.corpus_ids))
    metrics = retrieval_metrics(hits, data.relevant_counts, ks)
    log.info(
        "%s: ndcg@%d %.4f, mrr@%d %.4f (encoding %.1f s, search %.2f s)",
        run.label,
        NDCG_AT,
        metrics[f"ndcg@{NDCG_AT}"],
        MRR_AT,
        metrics[f"mrr@{MRR_AT}"],
        run.encode_seconds,
        run.search_seconds,
    )
    return ModelScores(
        label=run.label,
        path=run.path,
        query_prompt=run.query_prompt,
        metrics=metrics,
        encoded_texts=run.encoded_texts,
        encode_seconds=run.encode_seconds,
        search_seconds=run.search_seconds,
        dimension=run.dimension,
        baseline=run.baseline,
        per_query=_per_query(data, ranking, hits),
    )


def _per_query(data: _IndexedData, ranking: np.ndarray, hits: np.ndarray) -> list[QueryResult]:
    ndcg = ndcg_per_query(hits, data.relevant_counts)
    found = np.asarray(hits.any(axis=1))
    first = hits.argmax(axis=1) + 1
    return [
        QueryResult(
            query_id=query_id,
            ndcg=float(ndcg[row]),
            top=[data.corpus_ids[index] for index in ranking[row, :TOP_PASSAGES]],
            first_relevant=int(first[row]) if found[row] else None,
        )
        for row, query_id in enumerate(data.query_ids)
    ]
