"""Evaluate throughput: `wmemb evaluate` vs sentence-transformers' InformationRetrievalEvaluator.

    python bench/bench_evaluate.py [--model minilm] [--rounds 3] [--batch-size 32] [--device cpu]

Splits the bundled sample corpus (English and Chinese) into passages with `wmemb split`; each
passage's first sentence becomes a query whose relevant passage is that passage. Both sides then
evaluate the same model on the same data in the same process, alternating, each round timed end to
end (model load, encoding, search, metrics). Prints queries+passages encoded per second, the ratio
wmemb / evaluator (target >= 0.95), and that both report the same NDCG@10.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = [ROOT / "data/sample/debian-reference-en-ch1-2.txt", ROOT / "data/sample/debian-reference-zh-cn-ch1.txt"]


def build_dataset(model: str, chunk_tokens: int, passages: int):
    """`passages` passages of the sample corpus, taken evenly from English and Chinese; each one's
    first sentence is a query that it answers."""
    from wmemb.corpus import SplitOptions, split_corpus
    from wmemb.corpus.sentences import sentences
    from wmemb.evaluate import EvalData
    from wmemb.records import QADataset, read_nodes

    with tempfile.TemporaryDirectory() as tmp:
        summary = split_corpus(
            SAMPLES, tmp, model=model, options=SplitOptions(chunk_tokens=chunk_tokens), name="sample"
        )
        nodes = sorted(
            read_nodes(summary.train_path) + read_nodes(summary.val_path), key=lambda n: (n.source, n.position)
        )
    nodes = nodes[:: max(1, len(nodes) // passages)][:passages]
    queries, relevant = {}, {}
    for node in nodes:
        start, end = next(sentences(node.text))
        queries[f"q-{node.id}"] = node.text[start:end]
        relevant[f"q-{node.id}"] = [node.id]
    dataset = QADataset(queries=queries, corpus={node.id: node.text for node in nodes}, relevant_docs=relevant)
    return EvalData(name="sample", source=SAMPLES[0].parent, dataset=dataset.validate("sample"))


def build_subset(data, count: int):
    from wmemb.evaluate import EvalData
    from wmemb.records import QADataset

    query_ids = list(data.queries)[:count]
    relevant = {qid: data.relevant_docs[qid] for qid in query_ids}
    corpus = {doc: data.corpus[doc] for docs in relevant.values() for doc in docs}
    subset = QADataset(queries={qid: data.queries[qid] for qid in query_ids}, corpus=corpus, relevant_docs=relevant)
    return EvalData(name="warm-up", source=data.source, dataset=subset)


def run_wmemb(model: str, data, batch_size: int, device: str | None) -> float:
    from wmemb.evaluate import evaluate_models

    result = evaluate_models([model], data, batch_size=batch_size, device=device, show_progress=False)
    return result.models[0].metrics["ndcg@10"]


def run_evaluator(model: str, data, batch_size: int, device: str | None) -> float:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    from wmemb.models import query_prompt, resolve_model

    folder = resolve_model(model)
    evaluator = InformationRetrievalEvaluator(
        data.queries,
        data.corpus,
        {q: set(d) for q, d in data.relevant_docs.items()},
        batch_size=batch_size,
        query_prompt=query_prompt(folder),
        write_csv=False,
    )
    return evaluator(SentenceTransformer(str(folder), device=device))["cosine_ndcg@10"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--chunk-tokens", type=int, default=256)
    parser.add_argument("--passages", type=int, default=200, help="passages (and as many queries) to evaluate on")
    parser.add_argument("--device", default=None, help="cpu, cuda, ...; default: what sentence-transformers picks")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    data = build_dataset(args.model, args.chunk_tokens, args.passages)
    texts = len(data.queries) + len(data.corpus)
    print(
        f"data: {len(data.queries)} queries + {len(data.corpus)} passages = {texts} texts, model {args.model}, "
        f"batch {args.batch_size}, {os.cpu_count()} CPUs",
        flush=True,
    )
    runners = {"wmemb": run_wmemb, "evaluator": run_evaluator}
    warm_up = build_subset(data, 40)
    for runner in runners.values():  # first-call costs (imports, kernels, caches) are paid by neither side
        runner(args.model, warm_up, args.batch_size, args.device)
    rates = {name: [] for name in runners}
    ndcg = {}
    for round_index in range(args.rounds):
        order = list(runners) if round_index % 2 == 0 else list(reversed(runners))
        for name in order:
            started = time.perf_counter()
            ndcg[name] = runners[name](args.model, data, args.batch_size, args.device)
            rates[name].append(texts / (time.perf_counter() - started))
        print(
            f"round {round_index + 1}: " + ", ".join(f"{name} {rates[name][-1]:.1f} texts/s" for name in runners),
            flush=True,
        )

    median = {name: statistics.median(values) for name, values in rates.items()}
    # Rounds run back to back, so the median of per-round ratios cancels most of the load swings.
    ratio = statistics.median(ours / theirs for ours, theirs in zip(rates["wmemb"], rates["evaluator"]))
    print(f"median texts/s: wmemb {median['wmemb']:.1f}, InformationRetrievalEvaluator {median['evaluator']:.1f}")
    print(
        f"ratio wmemb/evaluator (median of rounds): {ratio:.3f} (target >= 0.95) {'PASS' if ratio >= 0.95 else 'FAIL'}"
    )
    print(
        f"ndcg@10: wmemb {ndcg['wmemb']:.6f}, evaluator {ndcg['evaluator']:.6f} "
        f"({'same' if abs(ndcg['wmemb'] - ndcg['evaluator']) < 1e-6 else 'DIFFERENT'})"
    )
    sys.exit(0 if ratio >= 0.95 else 1)


if __name__ == "__main__":
    main()
