"""Benchmark the embedded `local` backend (SmolLM2-135M via transformers): speed per KEPT question
and a question-quality proxy, for several ways of running the same model on the same prompts.

    python bench/bench_local_llm.py [--passages 40] [--rounds 1] [--threads 1] [--variants base,sorted-stop64,...]

Passages: `wmemb split` of the bundled English sample (data/sample, 256-token passages as in the
demo), every k-th train passage up to `--passages`. Each variant generates questions for all of
them with wmemb's prompt (unchanged), and its replies go through wmemb's parser and filters, as in
`prepare`. The variants run round-robin `--rounds` times (the machine is shared: the spread between
rounds is the noise). Printed per variant: CPU and wall seconds (median and range over rounds; CPU
time is the steadier measure where other jobs share the cores), CPU seconds per kept question,
kept questions per passage, share of passages with >= 1 kept, duplicate rate (share of candidate
questions dropped as duplicates), tokens written; then the questions of a few passages side by side.

Variants (name: what changes from `base`, which is what `prepare --llm local` did before):
  base       fp32, batch 8 in queue order, max_new_tokens 96 (48 per question), no early stop
  stop       + stop a row as soon as it has written 2 question lines
  stop64     + stop, max_new_tokens 64
  int8-stop  + stop, linear layers quantized to int8 (torch.ao dynamic quantization)
  bf16-stop  + stop, bfloat16 weights
  sorted-*   prompts batched longest first, so a batch holds prompts of similar length (less padding)
  b4 / b16   other batch sizes
`sorted-stop64` is what `prepare --llm local` does now (2 questions per passage, batch = --concurrency).
int8 dynamic quantization was measured faster but wrote no usable question; bf16 is slow on AVX2.
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]

from wmemb.corpus.split import split_corpus  # noqa: E402
from wmemb.generate.backends.local import generate_batch, load_causal_lm, smollm2_gguf  # noqa: E402
from wmemb.generate.filters import QueryFilter  # noqa: E402
from wmemb.generate.parse import parse_reply  # noqa: E402
from wmemb.generate.prompts import PromptSet  # noqa: E402
from wmemb.records import read_nodes  # noqa: E402

QUESTIONS = 2


@dataclass(frozen=True)
class Variant:
    name: str
    weights: str = "fp32"  # fp32 | int8 | bf16
    batch: int = 8
    max_new_tokens: int = 48 * QUESTIONS
    stop: bool = False
    by_length: bool = False  # batch prompts of similar length together (less padding)


VARIANTS = {
    v.name: v
    for v in [
        Variant("base"),
        Variant("stop", stop=True),
        Variant("stop64", stop=True, max_new_tokens=64),
        Variant("int8-stop", weights="int8", stop=True),
        Variant("bf16-stop", weights="bf16", stop=True),
        Variant("b4-int8-stop", weights="int8", batch=4, stop=True),
        Variant("b16-int8-stop", weights="int8", batch=16, stop=True),
        Variant("sorted", by_length=True),
        Variant("sorted-stop", by_length=True, stop=True),
        Variant("sorted-stop64", by_length=True, stop=True, max_new_tokens=64),
        Variant("sorted-b4-stop64", batch=4, by_length=True, stop=True, max_new_tokens=64),
        Variant("sorted-b16-stop", batch=16, by_length=True, stop=True),
        Variant("sorted-b16-stop64", batch=16, by_length=True, stop=True, max_new_tokens=64),
    ]
}


def sample_passages(count: int, work: Path) -> list[str]:
    split_corpus([ROOT / "data" / "sample" / "debian-reference-en-ch1-2.txt"], work, name="sample")
    nodes = read_nodes(work / "sample_train_nodes.jsonl")
    step = max(1, len(nodes) // count)
    return [node.text for node in nodes[::step][:count]]


def weights(model, kind: str, cache: dict):
    """The model with `kind` weights (made once, from a copy of the fp32 model)."""
    import torch

    if kind not in cache:
        if kind == "fp32":
            cache[kind] = model
        elif kind == "int8":
            cache[kind] = torch.ao.quantization.quantize_dynamic(
                copy.deepcopy(model), {torch.nn.Linear}, dtype=torch.qint8
            )
        elif kind == "bf16":
            cache[kind] = copy.deepcopy(model).to(torch.bfloat16)
    return cache[kind]


@dataclass
class Run:
    seconds: float  # wall
    cpu_seconds: float  # this process's CPU time: on a shared machine, less noisy than wall time
    tokens: int
    kept: list[list[str]]  # per passage
    candidates: int
    duplicates: int


def run_variant(tokenizer, model, variant: Variant, prompts: list[str], passages: list[str]) -> Run:
    order = list(range(len(prompts)))
    if variant.by_length:
        order.sort(key=lambda i: len(prompts[i]), reverse=True)
    started, cpu_started, replies = time.perf_counter(), time.process_time(), {}
    for start in range(0, len(order), variant.batch):
        rows = order[start : start + variant.batch]
        completions = generate_batch(
            tokenizer, model, [prompts[i] for i in rows], variant.max_new_tokens, QUESTIONS if variant.stop else None
        )
        replies.update(zip(rows, completions))
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    replies = [replies[i] for i in range(len(prompts))]
    query_filter, kept, candidates, duplicates = QueryFilter(), [], 0, 0
    for reply, passage in zip(replies, passages):
        questions = parse_reply(reply.text).questions
        good, dropped = query_filter.keep(questions, passage)
        candidates += len(questions)
        duplicates += sum(reason == "duplicate" for _, reason in dropped)
        kept.append(good[:QUESTIONS])
    return Run(seconds, cpu_seconds, sum(r.completion_tokens for r in replies), kept, candidates, duplicates)


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):6.1f} ({min(values):5.1f}-{max(values):5.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--variants", default="base,sorted-stop64", help=f"comma-separated: {', '.join(VARIANTS)}")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--examples", type=int, default=4, help="passages whose questions are shown")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    variants = [VARIANTS[name] for name in args.variants.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-local-llm-") as tmp:
        passages = sample_passages(args.passages, Path(tmp))
    prompts = [PromptSet.builtin().render(text, QUESTIONS)[2] for text in passages]
    llm = load_causal_lm(str(smollm2_gguf()))
    tokenizer, model = llm.tokenizer, llm.model
    models: dict = {}
    generate_batch(tokenizer, model, prompts[:1], 4)  # warm-up
    runs: dict[str, list[Run]] = {v.name: [] for v in variants}
    for round_ in range(args.rounds):
        for variant in variants:
            run = run_variant(tokenizer, weights(model, variant.weights, models), variant, prompts, passages)
            runs[variant.name].append(run)
            print(
                f"round {round_ + 1} {variant.name:14s} {run.seconds:6.1f} s wall, {run.cpu_seconds:6.1f} s CPU",
                flush=True,
            )
    print(
        f"\n{len(passages)} passages, {torch.get_num_threads()} torch threads, {args.rounds} rounds; "
        "CPU and wall seconds: median (min-max); per kept question and speed-up from CPU seconds"
    )
    print(
        f"{'variant':14s} {'CPU s':>17s} {'wall s':>17s} {'CPU s/kept':>10s} {'speed-up':>8s} "
        f"{'kept/pass':>9s} {'>=1 kept':>8s} {'dup rate':>8s} {'tokens':>6s}"
    )
    base_per_kept = None
    for variant in variants:
        cpu = [r.cpu_seconds for r in runs[variant.name]]
        wall = [r.seconds for r in runs[variant.name]]
        run = runs[variant.name][0]  # greedy: every round writes the same questions
        kept = sum(len(k) for k in run.kept)
        per_kept = statistics.median(cpu) / max(kept, 1)
        base_per_kept = base_per_kept or per_kept
        print(
            f"{variant.name:14s} {spread(cpu)} {spread(wall)} {per_kept:10.2f} {base_per_kept / per_kept:7.2f}x "
            f"{kept / len(passages):9.2f} {sum(bool(k) for k in run.kept) / len(passages):8.0%} "
            f"{run.duplicates / max(run.candidates, 1):8.1%} {run.tokens:6d}"
        )
    for index in range(min(args.examples, len(passages))):
        print(f"\npassage {index}: {' '.join(passages[index].split())[:150]}...")
        for variant in variants:
            print(f"  {variant.name:14s} {runs[variant.name][0].kept[index]}")


if __name__ == "__main__":
    main()
