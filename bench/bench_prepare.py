"""Benchmark `prepare`: concurrent vs sequential requests, and the local backend's overhead.

    python bench/bench_prepare.py [--passages 200] [--concurrency 16] [--delay 0.2] [--local-passages 8]

1. A local OpenAI-compatible server (tests/openai_server.py, its own process) answers every request after `--delay`
   seconds. `--passages` passages go through `prepare` at `--concurrency` and one at a time (what
   llama_index does); the throughput ratio is printed (target >= 12x at 16 in flight).
2. `--llm local` on SmolLM2: passages/s and tokens/s of `prepare`, against a plain transformers
   `generate` loop over the same prompts in the same batches (target: overhead <= 10%).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
TESTS = Path(__file__).resolve().parents[1] / "tests"

from wmemb.generate import PrepareOptions, prepare_datasets  # noqa: E402
from wmemb.generate.backends import load_causal_lm, smollm2_gguf  # noqa: E402
from wmemb.generate.prompts import PromptSet  # noqa: E402
from wmemb.records import Node, content_id, read_nodes, write_nodes  # noqa: E402

TOPICS = [
    "package manager",
    "kernel scheduler",
    "shell prompt",
    "file permissions",
    "virtual console",
    "network setup",
    "boot loader",
    "system log",
    "user account",
    "disk partition",
]


def write_passages(folder: Path, count: int) -> tuple[Path, Path]:
    texts = [
        f"Section {i}: the {TOPICS[i % len(TOPICS)]} of a Debian system is configured in step {i}, "
        f"which the administrator checks before moving on to step {i + 1}."
        for i in range(count)
    ]
    nodes = [Node(content_id(t), t, "bench.txt", i, 0, len(t), len(t.split())) for i, t in enumerate(texts)]
    folder.mkdir(parents=True, exist_ok=True)
    write_nodes(folder / "bench_train_nodes.jsonl", nodes)
    write_nodes(folder / "bench_val_nodes.jsonl", nodes[:1])
    return folder / "bench_train_nodes.jsonl", folder / "bench_val_nodes.jsonl"


@contextlib.contextmanager
def server_process(delay: float):
    """The test server in its own process, like a real one (in this process it would compete with
    the client for the GIL). Yields its base URL."""
    process = subprocess.Popen(
        [sys.executable, str(TESTS / "openai_server.py"), "--delay", str(delay)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield process.stdout.readline().strip()
    finally:
        process.stdin.close()
        process.wait(timeout=10)


def http_benchmark(work: Path, passages: int, concurrency: int, delay: float) -> None:
    train, val = write_passages(work / "nodes", passages)
    rates = {}
    with server_process(delay) as base_url:
        for label, in_flight in (("concurrent", concurrency), ("sequential", 1)):
            options = PrepareOptions(llm="openai", base_urls=[base_url], concurrency=in_flight)
            summary = prepare_datasets(train, val, work / label, options)
            rates[label] = summary.train.passages / summary.train.seconds
            print(
                f"http {label:10s} concurrency {in_flight:2d}: {summary.train.passages} passages in "
                f"{summary.train.seconds:6.2f} s = {rates[label]:6.1f} passages/s ({summary.train.queries} queries)"
            )
    print(
        f"http speed-up at concurrency {concurrency}: {rates['concurrent'] / rates['sequential']:.1f}x "
        f"(target >= 12x; ideal {concurrency}x with {delay * 1000:.0f} ms per reply)"
    )


def raw_generate_loop(tokenizer, model, prompts: list[str], batch_size: int, max_new_tokens: int) -> tuple[float, int]:
    """The runtime alone: chat template, tokenize, generate, decode - no wmemb code."""
    import torch

    started, produced = time.perf_counter(), 0
    for start in range(0, len(prompts), batch_size):
        chats = [[{"role": "user", "content": p}] for p in prompts[start : start + batch_size]]
        texts = tokenizer.apply_chat_template(chats, tokenize=False, add_generation_prompt=True)
        encoded = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            output = model.generate(
                **encoded, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
            )
        new = output[:, encoded["input_ids"].shape[1] :]
        produced += int(((new != tokenizer.pad_token_id) & (new != tokenizer.eos_token_id)).sum())
        tokenizer.batch_decode(new, skip_special_tokens=True)
    return time.perf_counter() - started, produced


def local_benchmark(work: Path, passages: int, batch_size: int, max_new_tokens: int) -> None:
    train, val = write_passages(work / "local-nodes", passages)
    tokenizer, model = load_causal_lm(str(smollm2_gguf()))  # loaded once, outside both timings
    prompts = [PromptSet.builtin().render(node.text, 2)[2] for node in read_nodes(train)]
    raw_generate_loop(tokenizer, model, prompts[:1], 1, 4)  # warm-up
    options = PrepareOptions(llm="local", concurrency=batch_size, max_tokens=max_new_tokens)
    summary = prepare_datasets(train, val, work / "local", options)
    pipeline_seconds, pipeline_tokens = summary.train.seconds, summary.train.completion_tokens
    raw_seconds, raw_tokens = raw_generate_loop(tokenizer, model, prompts, batch_size, max_new_tokens)
    for label, seconds, tokens in (
        ("prepare --llm local", pipeline_seconds, pipeline_tokens),
        ("raw generate loop", raw_seconds, raw_tokens),
    ):
        print(
            f"local {label:20s}: {passages} passages in {seconds:6.1f} s = {passages / seconds:5.2f} passages/s, "
            f"{tokens} tokens = {tokens / seconds:5.1f} tokens/s"
        )
    overhead = (pipeline_seconds / max(pipeline_tokens, 1)) / (raw_seconds / max(raw_tokens, 1)) - 1
    import torch

    print(
        f"local overhead per generated token: {overhead * 100:+.1f}% (target <= 10%; batch {batch_size}, {torch.get_num_threads()} threads, "
        f"max {max_new_tokens} new tokens, {summary.train.queries} queries kept)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--local-passages", type=int, default=8, help="0 skips the local benchmark")
    parser.add_argument("--local-batch", type=int, default=8)
    parser.add_argument("--local-max-tokens", type=int, default=64)
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=0,
        help="torch threads for the local benchmark (0: torch's default); 1 is far faster on a busy machine",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-prepare-") as tmp:
        if args.passages:
            http_benchmark(Path(tmp), args.passages, args.concurrency, args.delay)
        if args.local_passages:
            if args.torch_threads:
                import torch

                torch.set_num_threads(args.torch_threads)
            local_benchmark(Path(tmp), args.local_passages, args.local_batch, args.local_max_tokens)


if __name__ == "__main__":
    main()
