"""Serving speed and quality of an exported model: torch fp32 vs ONNX vs ONNX int8 (and OpenVINO on request).

    python bench/bench_export.py --model minilm --dataset DATASET [--formats torch,onnx,onnx-int8] [--batch-size 32]
    python bench/bench_export.py --model minilm --sample 200     # no dataset: the bundled sample corpus

DATASET is what `wmemb evaluate --dataset` takes (a llama_index *_dataset.json, FlagEmbedding .jsonl or a BEIR
folder). This is `wmemb evaluate --throughput` (wmemb.evaluate.serving.throughput_check) with more columns: the
model is exported with `wmemb export`'s code into a temporary folder per format, every variant is scored by
`wmemb evaluate`'s code on the same data, and texts/s is the best of --rounds rounds in which every variant
encodes the same passages in turn (interleaved, so other load on the machine slows all variants alike).
`--sample N`: N passages of the bundled English + Chinese sample corpus, each one's first sentence its query
(as bench/bench_evaluate.py builds them). Figures swing with other load on the machine: compare within one run.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    from wmemb.export import VARIANTS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="minilm", help="sentence-transformers folder, hub id or 'minilm'")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", type=Path, help="evaluation set, as `wmemb evaluate --dataset` takes it")
    source.add_argument("--sample", type=int, metavar="N", help="N passages of the bundled sample corpus instead")
    parser.add_argument("--split", default="test", help="qrels split of a BEIR folder")
    parser.add_argument("--formats", default="torch,onnx,onnx-int8", help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (the best counts)")
    parser.add_argument("--timed", type=int, default=256, help="passages each variant encodes per round")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from wmemb.evaluate import load_eval_data
    from wmemb.evaluate.serving import throughput_check, timing_note

    formats = [name.strip() for name in args.formats.split(",") if name.strip()]
    unknown = [name for name in formats if name not in VARIANTS]
    if unknown:
        parser.error(f"--formats {unknown[0]}: choose from {', '.join(VARIANTS)}")
    if args.sample:
        sys.path.insert(0, str(ROOT / "bench"))
        from bench_evaluate import build_dataset

        data = build_dataset(args.model, chunk_tokens=256, passages=args.sample)
    else:
        data = load_eval_data(args.dataset, split=args.split)
    print(f"dataset {data.name}: {len(data.queries)} queries, {len(data.corpus)} passages; model {args.model}")
    result = throughput_check(
        args.model, data, formats, batch_size=args.batch_size, rounds=args.rounds, timed_passages=args.timed
    )
    print(
        f"\n{'variant':<15}{'texts/s':>10}{'x first':>9}{'NDCG@10':>10}{'Δ NDCG':>9}{'MRR@10':>9}"
        f"{'weights MB':>12}{'export s':>10}"
    )
    first = result.variants[0]
    for variant in result.variants:
        print(
            f"{variant.name:<15}{variant.texts_per_second:>10.1f}"
            f"{variant.texts_per_second / first.texts_per_second:>9.2f}{variant.ndcg:>10.4f}"
            f"{variant.ndcg - first.ndcg:>+9.4f}{variant.scores.metrics['mrr@10']:>9.4f}"
            f"{variant.model_bytes / 1e6:>12.1f}{variant.export_seconds:>10.1f}"
        )
    print(f"(Δ and x against {first.name})\n{timing_note(result)}\n{result.recommendation()}")


if __name__ == "__main__":
    main()
