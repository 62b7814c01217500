"""Matryoshka training against plain training, on the questions people wrote (issue 23's targets).

    python bench/bench_matryoshka.py --runs /work/main/bench/quality/cache/runs --label s400 --domains perl,cvs \
        --out bench/quality/cache/matryoshka

For each domain, the packaged MiniLM is fine-tuned twice on the training questions of a quality-benchmark run
(`<runs>/<label>/<domain>/data/<domain>_train_dataset.json`, what bench_quality.py wrote), with the run's
validation questions choosing the best epoch as `wmemb run` does: once plainly and once with
`matryoshka_dims` (default 64,128,256; the full 384 is added). Both, and the base, are then scored by
`wmemb evaluate --dims` on the domain's questions people wrote (`<cache>/<domain>/eval`) at full size and at
each size. A trained model already in `--out` is reused (delete it to train again). Targets: the Matryoshka
model at 128 dimensions within 0.02 NDCG@10 of its full size, and its full size no more than 0.005 below the
plain model's. Results: `<out>/<domain>.json`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
METRIC = "ndcg@10"


def train(args: argparse.Namespace, domain: str, arm: str, dims: list[int]) -> tuple[Path, float | None]:
    from wmemb.models import resolve_model
    from wmemb.train.finetune import METRICS_FILE, FinetuneOptions, finetune

    run = args.runs / args.label / domain
    output = args.out / domain / arm
    if (output / METRICS_FILE).is_file():
        return output, None
    started = time.perf_counter()
    finetune(
        resolve_model("minilm"),
        output,
        run / "data" / f"{domain}_train_dataset.json",
        run / "data" / f"{domain}_val_dataset.json",
        FinetuneOptions(epochs=args.epochs, matryoshka_dims=dims, overwrite=True),
    )
    return output, time.perf_counter() - started


def bench_domain(args: argparse.Namespace, domain: str) -> dict:
    from wmemb.evaluate import evaluate_models, load_eval_data
    from wmemb.models import resolve_model

    plain, plain_seconds = train(args, domain, "plain", [])
    matryoshka, matryoshka_seconds = train(args, domain, "matryoshka", args.dims)
    models = {"base": str(resolve_model("minilm")), "plain": str(plain), "matryoshka": str(matryoshka)}
    human = load_eval_data(args.cache / domain / "eval")
    result = evaluate_models(list(models.values()), human, labels=list(models), dims=args.dims, show_progress=False)
    scores = {model.label: {"full": model.metrics[METRIC]} for model in result.models}
    for row in result.truncated:
        label, _, size = row.label.rpartition("@")
        scores[label][size] = row.metrics[METRIC]
    return {
        "domain": domain,
        "human_questions": result.queries,
        "passages": result.passages,
        "epochs": args.epochs,
        "dims": args.dims,
        "train_seconds": {"plain": plain_seconds, "matryoshka": matryoshka_seconds},
        "load_average": os.getloadavg(),
        METRIC: scores,
    }


def print_domain(result: dict) -> None:
    scores = result[METRIC]
    sizes = ["full", *(str(size) for size in sorted(result["dims"], reverse=True))]
    print(
        f"\n{result['domain']}: NDCG@10 on {result['human_questions']} human questions, {result['passages']} passages "
        f"(load average {' '.join(f'{value:.1f}' for value in result['load_average'])})"
    )
    print(f"{'model':12s}" + "".join(f"{size:>9s}" for size in sizes))
    for label, by_size in scores.items():
        print(f"{label:12s}" + "".join(f"{by_size[size]:>9.4f}" for size in sizes))
    matryoshka, plain = scores["matryoshka"], scores["plain"]
    if "128" in matryoshka:
        gap = matryoshka["128"] - matryoshka["full"]
        print(f"matryoshka 128 - full: {gap:+.4f} (target >= -0.02: {'met' if gap >= -0.02 else 'missed'})")
    gap = matryoshka["full"] - plain["full"]
    print(f"matryoshka full - plain full: {gap:+.4f} (target >= -0.005: {'met' if gap >= -0.005 else 'missed'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=ROOT / "bench" / "quality" / "cache" / "runs")
    parser.add_argument("--cache", type=Path, help="where <domain>/eval lies; default: the folder above --runs")
    parser.add_argument("--label", default="s400")
    parser.add_argument("--domains", default="perl,cvs")
    parser.add_argument("--dims", default="64,128,256")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "quality" / "cache" / "matryoshka")
    args = parser.parse_args()
    args.cache = args.cache or args.runs.parent
    args.dims = [int(size) for size in args.dims.split(",") if size]
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for domain in [name for name in args.domains.split(",") if name]:
        result = bench_domain(args, domain)
        (args.out / f"{domain}.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        print_domain(result)


if __name__ == "__main__":
    main()
