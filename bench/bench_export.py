"""Serving speed and quality of an exported model: torch fp32 vs ONNX vs ONNX int8 (and OpenVINO on request).

    python bench/bench_export.py --model minilm --dataset DATASET [--formats torch,onnx,onnx-int8] [--batch-size 32]
    python bench/bench_export.py --model minilm --sample 200     # no dataset: the bundled sample corpus

DATASET is what `wmemb evaluate --dataset` takes (a llama_index *_dataset.json, FlagEmbedding .jsonl or a BEIR
folder). The model is exported with `wmemb.export.export_model` into a temporary folder per format; every variant
is then scored by `wmemb evaluate`'s own code on the same data in one process, in the order given. Prints texts
(queries + passages) encoded per second on this CPU and NDCG@10 per variant, and the exported file sizes.
`--sample N`: N passages of the bundled English + Chinese sample corpus, each one's first sentence its query
(as bench/bench_evaluate.py builds them). Figures swing with other load on the machine: compare within one run.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "torch": None,
    "onnx": ("onnx", None),
    "onnx-int8": ("onnx", "int8"),
    "openvino": ("openvino", None),
    "openvino-int8": ("openvino", "int8"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="minilm", help="sentence-transformers folder, hub id or 'minilm'")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", type=Path, help="evaluation set, as `wmemb evaluate --dataset` takes it")
    source.add_argument("--sample", type=int, metavar="N", help="N passages of the bundled sample corpus instead")
    parser.add_argument("--split", default="test", help="qrels split of a BEIR folder")
    parser.add_argument("--formats", default="torch,onnx,onnx-int8", help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import torch

    from wmemb.evaluate import evaluate_models, load_eval_data
    from wmemb.export import export_model
    from wmemb.io import folder_size
    from wmemb.models import resolve_model

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
    print(
        f"dataset {data.name}: {len(data.queries)} queries, {len(data.corpus)} passages; model {args.model}; "
        f"{os.cpu_count()} CPUs, torch {torch.get_num_threads()} threads, load average "
        f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        folders, sizes, export_seconds = [], {}, {}
        for name in formats:
            if VARIANTS[name] is None:
                folder = resolve_model(args.model)
                sizes[name] = sum(f.stat().st_size for f in folder.glob("*.safetensors")) or folder_size(folder)
            else:
                fmt, quantize = VARIANTS[name]  # type: ignore[misc]
                started = time.perf_counter()
                result = export_model(args.model, Path(tmp) / name, format=fmt, quantize=quantize)
                export_seconds[name] = time.perf_counter() - started
                folder = result.output
                sizes[name] = (folder / result.file_name).stat().st_size + sum(
                    f.stat().st_size for f in (folder / result.file_name).parent.glob("*.bin")
                )
            folders.append(str(folder))
        scores = evaluate_models(
            folders, data, batch_size=args.batch_size, device="cpu", show_progress=False, labels=formats
        ).models

    print(
        f"\n{'variant':<15}{'texts/s':>10}{'NDCG@10':>10}{'Δ NDCG':>9}{'MRR@10':>9}{'weights MB':>12}{'export s':>10}"
    )
    base = scores[0].metrics["ndcg@10"]
    for name, score in zip(formats, scores):
        print(
            f"{name:<15}{score.texts_per_second:>10.1f}{score.metrics['ndcg@10']:>10.4f}"
            f"{score.metrics['ndcg@10'] - base:>+9.4f}{score.metrics['mrr@10']:>9.4f}"
            f"{sizes[name] / 1e6:>12.1f}{export_seconds.get(name, 0.0):>10.1f}"
        )
    print(f"(Δ against {formats[0]}; texts = queries + passages encoded, batch {args.batch_size})")


if __name__ == "__main__":
    main()
