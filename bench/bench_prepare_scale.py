"""Benchmark `prepare` at scale: 10^5 passages, several servers, kill -9 midway and resume.

    python bench/bench_prepare_scale.py [--passages 100000] [--servers 3] [--delay 0.01] [--concurrency 32]

`--passages` distinct passages are made of sentences of the bundled sample (data/sample; 2/3 English, 1/3 Chinese,
three sentences each, led by a numbered label so that the test server's questions, which quote a passage's first
words, are distinct) and split 85/15 into train and val. `--servers` local OpenAI-protocol servers
(tests/helpers/openai_server.py, each in its own process, answering after `--delay` s and logging every request)
share the load of `wmemb prepare`, the CLI in its own process (a real kill -9),, three times:

1. uninterrupted into a fresh folder: requests per server, wall time and requests/s, peak RSS of prepare, the
   cost estimate it logged before its first request (and the time left after its first replies) and the tokens
   the servers counted;
2. into another fresh folder, killed with SIGKILL once `--kill-at` of the requests were received;
3. the same command again: the start-up time until its first request (target <= 10 s), the torn-line warning,
   the cost estimate against the tokens the servers counted, the requests asked twice (only those in flight at
   the kill may be; none whose reply was cached) and whether the datasets and dropped-line files equal run 1's
   byte for byte.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the tests' helpers package

from child import MeasuredChild  # noqa: E402
from helpers.prepare_inputs import make_nodes  # noqa: E402
from wmemb.generate.prompts import PromptSet  # noqa: E402
from wmemb.records import read_nodes, write_nodes  # noqa: E402

SAMPLE = ROOT / "data" / "sample"
SERVER = ROOT / "tests" / "helpers" / "openai_server.py"
QUESTIONS_PER_CHUNK = 2  # prepare's default
CLI = "import sys; from wmemb.cli import main; sys.argv[0] = 'wmemb'; sys.exit(main())"  # the `wmemb` script


def sentences(name: str) -> list[str]:
    text = (SAMPLE / name).read_text(encoding="utf-8")
    blocks = [" ".join(block.split()) for block in re.split(r"\n\s*\n", text)]
    return [s for block in blocks for s in re.split(r"(?<=[.!?。！？])\s*", block) if len(s) > 30]


def synthetic_passages(count: int, seed: int = 0) -> list[str]:
    """`count` distinct passages: three sentences of one language of the sample, after a numbered label."""
    rng = random.Random(seed)
    pools = {"en": sentences("debian-reference-en-ch1-2.txt"), "zh": sentences("debian-reference-zh-cn-ch1.txt")}
    passages: list[str] = []
    seen: set[str] = set()
    while len(passages) < count:
        number = len(passages)
        zh = number % 3 == 2
        body = "".join(rng.sample(pools["zh"], 3)) if zh else " ".join(rng.sample(pools["en"], 3))
        if body in seen:
            continue
        seen.add(body)
        passages.append(f"第{number:05d}条：{body}" if zh else f"Note {number}. {body}")
    return passages


@dataclass
class Server:
    process: subprocess.Popen
    base_url: str
    log: Path

    def count(self) -> int:
        """Chat requests so far (cheap enough to poll)."""
        return self.log.read_bytes().count(b"\n") if self.log.exists() else 0

    def requests(self) -> list[tuple[float, str]]:
        """(unix time, prompt sha1) of every chat request so far."""
        lines = self.log.read_text(encoding="utf-8").splitlines() if self.log.exists() else []
        return [(float(t), sha) for t, sha in (line.split("\t") for line in lines if line.count("\t") == 1)]


@contextlib.contextmanager
def servers(count: int, delay: float, folder: Path):
    started = []
    try:
        for index in range(count):
            log = folder / f"server{index}.log"
            process = subprocess.Popen(
                [sys.executable, str(SERVER), "--delay", str(delay), "--request-log", str(log)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            started.append(Server(process, process.stdout.readline().strip(), log))
        yield started
    finally:
        for server in started:
            server.process.stdin.close()
            server.process.wait(timeout=30)


@dataclass
class Run:
    seconds: float
    peak_rss_mb: float
    stderr: str
    killed: bool


def run_prepare(
    train: Path, val: Path, out: Path, fleet: list[Server], concurrency: int, kill_after: int | None = None
) -> Run:
    """`wmemb prepare` in its own process; killed with SIGKILL once the servers got `kill_after` more requests."""
    command = [sys.executable, "-c", CLI, "prepare", str(train), str(val), "-o", str(out), "--llm", "openai"]
    command += [arg for server in fleet for arg in ("--base-url", server.base_url)]
    command += ["--concurrency", str(concurrency)]
    env = {**os.environ, "COLUMNS": "400", "PYTHONPATH": str(ROOT / "src")}  # COLUMNS: rich wraps no log line
    before = sum(server.count() for server in fleet)
    stderr_path = out.with_suffix(".stderr")
    out.parent.mkdir(parents=True, exist_ok=True)
    with stderr_path.open("w") as stderr:
        process = MeasuredChild(command, stdout=subprocess.DEVNULL, stderr=stderr, env=env)
        killed = False
        while kill_after is not None and process.running():
            if sum(server.count() for server in fleet) - before >= kill_after:
                process.kill()
                killed = True
                break
            time.sleep(0.2)
        measured = process.wait()
    text = stderr_path.read_text(encoding="utf-8")
    if not killed and measured.returncode != 0:
        sys.exit(f"prepare failed:\n{text[-3000:]}")
    return Run(measured.seconds, measured.peak_mb, text, killed)


def log_lines(run: Run, *needles: str) -> list[str]:
    """The log lines holding one of `needles`, from the level name on (not the progress bar before it)."""
    lines = [line[line.find("INFO") :] if "INFO" in line else line for line in run.stderr.splitlines()]
    return [" ".join(line.split()) for line in lines if any(n in line for n in needles)]


def cached_prompts(out: Path, train: Path, val: Path) -> set[str]:
    """sha1 of the prompts whose replies the reply caches in `out` hold (complete lines only)."""
    prompts = PromptSet.builtin(False)
    texts = {node.id: node.text for path in (train, val) for node in read_nodes(path)}
    hashes = set()
    for cache in out.glob("*_replies.jsonl"):
        for line in cache.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                prompt = prompts.render(texts[record["node_id"]], QUESTIONS_PER_CHUNK, record["style"])[2]
                hashes.add(hashlib.sha1(prompt.encode()).hexdigest())
    return hashes


def counted_tokens(out: Path) -> str:
    """The prompt and reply tokens the servers reported to this run (its summary's), to set beside the estimate."""
    summary = json.loads((out / "scale_prepare_summary.json").read_text(encoding="utf-8"))
    prompt = sum(summary[split]["prompt_tokens"] for split in ("train", "val"))
    reply = sum(summary[split]["completion_tokens"] for split in ("train", "val"))
    return f"the servers counted {prompt:,} prompt and {reply:,} reply tokens"


def same_outputs(first: Path, second: Path) -> list[str]:
    """The dataset and dropped-line files that differ between two output folders."""
    names = sorted(p.name for p in first.iterdir() if p.name.endswith(("_dataset.json", "_dropped.jsonl")))
    return [name for name in names if (first / name).read_bytes() != (second / name).read_bytes()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--servers", type=int, default=3)
    parser.add_argument("--delay", type=float, default=0.01, help="seconds each server takes per reply")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--kill-at", type=float, default=0.5, help="fraction of the requests before the kill -9")
    parser.add_argument("--work", type=Path, help="keep the files here (default: a temporary folder)")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        work = args.work or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-prepare-scale-")))
        work.mkdir(parents=True, exist_ok=True)
        nodes = make_nodes(synthetic_passages(args.passages))
        cut = round(len(nodes) * 0.85)
        train, val = work / "scale_train_nodes.jsonl", work / "scale_val_nodes.jsonl"
        write_nodes(train, nodes[:cut])
        write_nodes(val, nodes[cut:])
        print(f"{len(nodes)} passages (train {cut}, val {len(nodes) - cut}), {args.servers} servers, ", end="")
        print(f"{args.delay * 1000:.0f} ms per reply, concurrency {args.concurrency}")
        fleet = stack.enter_context(servers(args.servers, args.delay, work))

        def counts() -> list[int]:
            return [server.count() for server in fleet]

        full = run_prepare(train, val, work / "full", fleet, args.concurrency)
        asked = counts()
        print(f"uninterrupted: {full.seconds:.1f} s, {sum(asked) / full.seconds:.0f} requests/s, ", end="")
        print(f"peak RSS {full.peak_rss_mb:.0f} MB; requests per server {asked} (total {sum(asked)})")
        for line in log_lines(full, "requests to send", "replies took"):
            print(f"  logged: {line}")
        print(f"  {counted_tokens(work / 'full')} (the test server counts words between spaces: few in Chinese)")

        before = counts()
        killed = run_prepare(train, val, work / "resumed", fleet, args.concurrency, round(args.kill_at * sum(asked)))
        at_kill = [now - then for now, then in zip(counts(), before)]
        cached = cached_prompts(work / "resumed", train, val)
        print(f"killed -9 after {killed.seconds:.1f} s: {sum(at_kill)} requests received, {len(cached)} replies cached")

        restart_time = time.time()
        resumed = run_prepare(train, val, work / "resumed", fleet, args.concurrency)
        after_kill = [r for server, n in zip(fleet, before) for r in server.requests()[n:]]
        restart_requests = [t for t, _ in after_kill if t >= restart_time]
        startup = min(restart_requests) - restart_time if restart_requests else float("nan")
        print(f"restart: first request after {startup:.1f} s (target <= 10 s), ", end="")
        print(f"done in {resumed.seconds:.1f} s, peak RSS {resumed.peak_rss_mb:.0f} MB")
        for line in log_lines(resumed, "partial last line", "corrupt lines", "cached replies", "requests to send"):
            print(f"  logged: {line}")
        print(f"  {counted_tokens(work / 'resumed')} to the restarted run")
        twice = [sha for sha, n in Counter(sha for _, sha in after_kill).items() if n > 1]
        print(
            f"asked twice: {len(twice)} (in flight at the kill; at most {args.concurrency}), "
            f"of them cached before the kill: {len(set(twice) & cached)} (must be 0); "
            f"requests interrupted + resumed {len(after_kill)} vs uninterrupted {sum(asked)}"
        )
        differ = same_outputs(work / "full", work / "resumed")
        print(f"datasets and dropped lines equal the uninterrupted run's: {'yes' if not differ else differ}")


if __name__ == "__main__":
    main()
