"""End-to-end time and peak memory of the README's main job, stage by stage, and its quality.

    python bench/bench_pipeline.py [configs/sample.toml] [--fresh]

Runs the pipeline one stage per subprocess (earlier stages are then up to date and skipped), so each
stage's peak RSS is its own (that subprocess's, its children included). Prints seconds and peak RSS
per stage, the total, and NDCG@10 of the base, fine-tuned and expanded models on the validation
questions, and each stage's speed-up over the first measured demo (`REFERENCE_SECONDS`). `--fresh`
deletes the working folder first (otherwise finished stages are skipped and cost ~0 s).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from child import run_measured

ROOT = Path(__file__).resolve().parents[1]
# The demo's stages as first measured (commit 0143078, idle 2-core CPU, same corpus caps): 946 s in all.
REFERENCE_SECONDS = {"split": 4.9, "prepare": 573.0, "finetune": 172.0, "expand": 176.0, "evaluate": 21.0}
CHILD = (
    "import logging, sys; logging.basicConfig(level=logging.INFO, format='%(message)s');"
    "from wmemb.pipeline import Pipeline, PipelineConfig;"
    "Pipeline(PipelineConfig.load(sys.argv[1])).run(until=sys.argv[2])"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", nargs="?", default=str(ROOT / "configs/sample.toml"))
    parser.add_argument("--fresh", action="store_true", help="delete the working folder first")
    args = parser.parse_args()

    from wmemb.pipeline import Pipeline, PipelineConfig

    pipeline = Pipeline(PipelineConfig.load(args.config))
    if args.fresh:
        shutil.rmtree(pipeline.workdir, ignore_errors=True)
    rows = []
    for stage in [stage.name for stage in pipeline.stages()]:
        measured = run_measured([sys.executable, "-c", CHILD, args.config, stage])
        if measured.returncode:
            raise SystemExit(f"stage {stage} failed ({measured.returncode})")
        rows.append((stage, measured.seconds, measured.peak_mb))
    print(f"\n{'stage':10s} {'seconds':>8s} {'peak RSS MB':>12s} {'speed-up':>9s}")
    for stage, seconds, peak in rows:
        speedup = f"{REFERENCE_SECONDS[stage] / seconds:.2f}x" if stage in REFERENCE_SECONDS else ""
        print(f"{stage:10s} {seconds:8.1f} {peak:12.0f} {speedup:>9s}")
    total, reference = sum(r[1] for r in rows), sum(REFERENCE_SECONDS.get(r[0], 0) for r in rows)
    print(f"{'total':10s} {total:8.1f} {'':>12s} {reference / total:8.2f}x")
    metrics = json.loads((pipeline.paths.report / "metrics.json").read_text(encoding="utf-8"))
    print(f"\nvalidation: {metrics['queries']} queries over {metrics['passages']} passages")
    for model in metrics["models"]:
        m = model["metrics"]
        hit = m.get("hit_rate@1", float("nan"))
        print(f"{model['label']:10s} NDCG@10 {m['ndcg@10']:.4f}  MRR@10 {m['mrr@10']:.4f}  hit@1 {hit:.4f}")


if __name__ == "__main__":
    main()
