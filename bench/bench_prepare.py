"""Benchmark `prepare` against a server: concurrent requests vs one at a time, the realistic case.

    python bench/bench_prepare.py [--passages 150] [--concurrency 16] [--delay 0.2] [--repeats 3]

A local OpenAI-protocol server (tests/helpers/openai_server.py, in its own process as a real server would be)
answers every request after `--delay` seconds with messy replies (preambles, numbering, <think>
blocks, answers, markdown), Chinese for Chinese passages. `--passages` passages of the bundled sample
(data/sample, about 2/3 English, 1/3 Chinese), split 85/15 into train and val, go through `prepare`
at `--concurrency` and one at a time (what llama_index does), each run into a fresh folder; the
concurrent runs are repeated (interleaved with the sequential one) to show the noise of a shared
machine. Prints the wall times and the speed-up (target >= 13x at 16 in flight; the ideal is
passages / ceil(passages / concurrency)).

The local backend is benchmarked by bench/bench_local_llm.py.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import logging
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the tests' helpers package

from helpers.openai_server import openai_server  # noqa: E402
from wmemb.generate import PrepareOptions, prepare_datasets  # noqa: E402
from wmemb.records import Node, content_id, read_nodes, write_nodes  # noqa: E402

SAMPLE = ROOT / "data" / "sample"


def sample_passages(count: int) -> list[str]:
    """Paragraphs of the bundled Debian reference: 2/3 English, 1/3 Chinese."""

    def paragraphs(name: str, min_chars: int) -> list[str]:
        text = (SAMPLE / name).read_text(encoding="utf-8")
        blocks = [" ".join(block.split()) for block in re.split(r"\n\s*\n", text)]
        return [block for block in blocks if len(block) >= min_chars]

    zh = paragraphs("debian-reference-zh-cn-ch1.txt", 60)[: count // 3]
    en = paragraphs("debian-reference-en-ch1-2.txt", 200)[: count - len(zh)]
    return [text for pair in zip(en, zh) for text in pair] + en[len(zh) :]


def write_node_files(folder: Path, texts: list[str]) -> tuple[Path, Path]:
    nodes = [Node(content_id(t), t, "sample.txt", i, 0, len(t), len(t.split())) for i, t in enumerate(texts)]
    cut = round(len(nodes) * 0.85)
    folder.mkdir(parents=True, exist_ok=True)
    write_nodes(folder / "bench_train_nodes.jsonl", nodes[:cut])
    write_nodes(folder / "bench_val_nodes.jsonl", nodes[cut:])
    return folder / "bench_train_nodes.jsonl", folder / "bench_val_nodes.jsonl"


def prompt_hash(prompt: str) -> int:
    return int(hashlib.md5(prompt.encode()).hexdigest(), 16)


def messy_reply(prompt: str) -> str:
    """Two questions about the passage in one of the styles real models write."""
    zh = "材料：" in prompt
    passage = prompt.split("材料：\n" if zh else "Context:\n", 1)[-1]
    head = passage[:8] if zh else " ".join(passage.split()[:5])
    style = prompt_hash(prompt) % 4
    if zh:
        first, second = f"“{head}”指的是什么？", f"为什么说{head}很重要？"
        return [
            f"以下是根据材料提出的两个问题：\n\n问题1：{first}\n问题2：{second}",
            f"<think>\n用户要两个问题。先读材料。\n</think>\n\n1. {first}\n2. {second}",
            f"好的。\n- {first}\n  答：见材料。\n- {second}",
            f"{first}\n{second}",
        ][style]
    first, second = f"What does the text say about {head}?", f"Why does {head} matter?"
    return [
        f"Sure! Here are two questions based on the context:\n\nQ1: {first}\nA1: It explains it.\nQ2: {second}",
        f"<think>\nThe user wants two questions.\n</think>\n1. **{first}**\n2. *{second}*",
        f'Here are 2 questions:\n\n1. "{first}" This tests recall.\n2. {second}\n\nThese cover the passage.',
        f"{first}\n{second}",
    ][style]


def serve(delay: float, jitter: float) -> None:
    """Run the test server with messy replies until stdin closes (the `--serve` mode). Each reply
    takes `delay` * (1 +- `jitter`) seconds, fixed per prompt (so every run sees the same times)."""

    def reply(prompt: str) -> str:
        time.sleep(delay * (1 + jitter * ((prompt_hash(prompt) % 2001) / 1000 - 1)))
        return messy_reply(prompt)

    with openai_server(reply=reply) as server:
        print(server.base_url, flush=True)
        sys.stdin.read()


@contextlib.contextmanager
def server_process(delay: float, jitter: float):
    """This script in `--serve` mode, in its own process (in this one it would compete with the
    client for the GIL). Yields its base URL."""
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--delay", str(delay), "--jitter", str(jitter)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield process.stdout.readline().strip()
    finally:
        process.stdin.close()
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=150)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--jitter", type=float, default=0.0, help="reply times vary by +- this fraction of --delay")
    parser.add_argument("--repeats", type=int, default=3, help="concurrent runs (the sequential one runs once)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.delay, args.jitter)
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-prepare-") as tmp:
        work = Path(tmp)
        texts = sample_passages(args.passages)
        train, val = write_node_files(work / "nodes", texts)
        zh = sum(bool(re.search(r"[\u4e00-\u9fff]", t)) for t in texts)
        print(
            f"{len(texts)} passages ({len(texts) - zh} en, {zh} zh; train {len(read_nodes(train))}), "
            f"{args.delay * 1000:.0f} ms +- {args.jitter * 100:.0f}% per reply"
        )
        # interleaved: concurrent, sequential, concurrent, concurrent, ...
        plan = [args.concurrency, 1] + [args.concurrency] * (args.repeats - 1)
        seconds: dict[int, list[float]] = {1: [], args.concurrency: []}
        with server_process(args.delay, args.jitter) as base_url:
            for run, in_flight in enumerate(plan):
                options = PrepareOptions(llm="openai", base_urls=[base_url], concurrency=in_flight)
                started = time.perf_counter()
                summary = prepare_datasets(train, val, work / f"run{run}", options)
                seconds[in_flight].append(time.perf_counter() - started)
                dropped = sum(sum(r.dropped.values()) for r in (summary.train, summary.val))
                print(
                    f"concurrency {in_flight:2d}: {seconds[in_flight][-1]:6.2f} s, train {summary.train.queries} + "
                    f"val {summary.val.queries} queries, {dropped} lines dropped, "
                    f"{summary.train.failed + summary.val.failed} failed"
                )
        sequential = seconds[1][0]
        concurrent = seconds[args.concurrency]
        ideal = len(texts) / math.ceil(len(texts) / args.concurrency)
        print(
            f"speed-up at concurrency {args.concurrency}: {sequential / statistics.median(concurrent):.1f}x "
            f"(median of {len(concurrent)}; range {sequential / max(concurrent):.1f}-"
            f"{sequential / min(concurrent):.1f}x; target >= 13x, ideal {ideal:.1f}x)"
        )


if __name__ == "__main__":
    main()
