"""Benchmark `wmemb finetune` on the packaged MiniLM: throughput against a plain sentence-transformers
Trainer script with identical settings, peak memory, and retrieval quality before/after.

Dataset (no LLM): the English sample corpus (data/sample/debian-reference-en-ch1-2.txt) is cut into
paragraphs (blank-line separated, >= 80 characters, >= 2 sentences); each paragraph's first sentence
becomes its query and is removed from the passage, so the query is not copied from the passage.

    python bench/bench_finetune.py [--epochs 1]

Every run is its own subprocess; peak RSS is that process's own ru_maxrss (bench/child.py).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import tempfile
from pathlib import Path

import child

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "data" / "sample" / "debian-reference-en-ch1-2.txt"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}

PLAIN_SCRIPT = r"""
import json, sys
import torch
from datasets import Dataset
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
model_path, train_path, out, batch, lr, scale, epochs = sys.argv[1:8]
data = json.load(open(train_path, encoding="utf-8"))
rows = [{"anchor": data["queries"][q], "positive": data["corpus"][d]}
        for q, docs in data["relevant_docs"].items() for d in docs]
model = SentenceTransformer(model_path)
args = SentenceTransformerTrainingArguments(output_dir=out, num_train_epochs=int(epochs),
    per_device_train_batch_size=int(batch), learning_rate=float(lr), warmup_steps=0.1, seed=42, data_seed=42,
    batch_sampler="no_duplicates", save_strategy="epoch",
    save_total_limit=2, report_to="none", use_cpu=not torch.cuda.is_available(),
    bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported())
trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                                     loss=MultipleNegativesRankingLoss(model, scale=float(scale)))
result = trainer.train()
model.save(out + "/final")
print("RESULT", json.dumps({"samples_per_second": result.metrics["train_samples_per_second"]}))
"""


def build_dataset(folder: Path, seed: int = 42) -> tuple[Path, Path, Path]:
    """(train, val, all) llama_index JSON files from the sample corpus; see the module docstring."""
    text = CORPUS.read_text(encoding="utf-8")
    pairs = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = re.sub(r"\s+", " ", paragraph).strip()
        sentences = re.split(r"(?<=[.!?])\s+", paragraph)
        if len(paragraph) >= 80 and len(sentences) >= 2:
            pairs.append((sentences[0], " ".join(sentences[1:])))
    random.Random(seed).shuffle(pairs)

    def write(name: str, chosen: list[tuple[str, str]]) -> Path:
        data = {
            "queries": {f"q{i}": q for i, (q, _) in enumerate(chosen)},
            "corpus": {f"d{i}": p for i, (_, p) in enumerate(chosen)},
            "relevant_docs": {f"q{i}": [f"d{i}"] for i in range(len(chosen))},
            "mode": "text",
        }
        path = folder / name
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        return path

    cut = int(len(pairs) * 0.8)
    return write("train.json", pairs[:cut]), write("val.json", pairs[cut:]), write("all.json", pairs)


def run_measured(command: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MiB, stdout) of one subprocess (its own peak: bench/child.py)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        measured = child.run_measured(command, env=ENV, stdout=out, stderr=err, text=True, cwd=ROOT)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if measured.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{stderr[-3000:]}")
    return measured.seconds, measured.peak_mb, stdout


def wmemb_finetune(model: str, output: Path, train: Path, *extra: str) -> tuple[float, float, dict]:
    wall, rss, _ = run_measured(
        [sys.executable, "-m", "wmemb.cli", "-q", "finetune", model, str(output), str(train), "--overwrite", *extra]
    )
    return wall, rss, json.loads((output / "finetune_metrics.json").read_text(encoding="utf-8"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1, help="epochs of the throughput/memory runs")
    args = parser.parse_args()
    from wmemb.models import resolve_model

    model = str(resolve_model(None))
    lr, scale, batch = "2e-5", "20", "32"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        train, val, everything = build_dataset(folder)
        pairs = len(json.loads(everything.read_text(encoding="utf-8"))["queries"])
        print(
            f"dataset: {pairs} (first sentence -> rest of paragraph) pairs from {CORPUS.name}; "
            f"quality split {int(pairs * 0.8)} train / {pairs - int(pairs * 0.8)} val"
        )

        settings = ["--epochs", str(args.epochs), "--batch-size", batch, "--lr", lr, "--scale", scale, "--seed", "42"]
        plain_wall, plain_rss, stdout = run_measured(
            [
                sys.executable,
                "-c",
                PLAIN_SCRIPT,
                model,
                str(everything),
                str(folder / "plain"),
                batch,
                lr,
                scale,
                str(args.epochs),
            ]
        )
        plain_sps = json.loads(stdout.split("RESULT", 1)[1])["samples_per_second"]
        wm_wall, wm_rss, log = wmemb_finetune(model, folder / "wm", everything, *settings)
        wm_sps = log["train_samples_per_second"]
        print(f"throughput, batch {batch}, {args.epochs} epoch(s) on {pairs} pairs:")
        print(
            f"  plain sentence-transformers: {plain_sps:7.1f} samples/s  "
            f"(wall {plain_wall:5.1f} s, peak RSS {plain_rss:6.0f} MiB)"
        )
        print(
            f"  wmemb finetune:              {wm_sps:7.1f} samples/s  "
            f"(wall {wm_wall:5.1f} s, peak RSS {wm_rss:6.0f} MiB)"
        )
        print(f"  ratio wmemb/plain: {wm_sps / plain_sps:.3f} (target >= 0.95)")

        big = str(min(256, pairs))
        cached_wall, cached_rss, log = wmemb_finetune(
            model,
            folder / "cached",
            everything,
            "--epochs",
            str(args.epochs),
            "--batch-size",
            big,
            "--loss",
            "cached",
            "--mini-batch-size",
            batch,
            "--lr",
            lr,
            "--scale",
            scale,
        )
        print(
            f"memory: --loss cached, effective batch {big}, mini-batch {batch}: peak RSS {cached_rss:.0f} MiB "
            f"= {cached_rss / plain_rss:.2f}x plain at batch {batch} (target <= 1.3x); "
            f"{log['train_samples_per_second']:.1f} samples/s"
        )

        quality_wall, _, log = wmemb_finetune(model, folder / "quality", train, "--val", str(val))
        before, best = (
            log["epochs"][0]["metrics"],
            next(e["metrics"] for e in log["epochs"] if e["epoch"] == log["best_epoch"]),
        )
        print(
            f"quality (wmemb defaults: {log['settings']['epochs']} epochs, lr {log['settings']['learning_rate']}, "
            f"scale {log['settings']['scale']}, batch {log['settings']['batch_size']}; {quality_wall:.0f} s):"
        )
        for metric in ("ndcg@10", "mrr@10", "hit_rate@1", "recall@10"):
            print(
                f"  val {metric:10s} before {before[metric]:.4f}  after {best[metric]:.4f}  "
                f"({best[metric] - before[metric]:+.4f})"
            )


if __name__ == "__main__":
    main()
