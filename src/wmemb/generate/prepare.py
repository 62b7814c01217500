"""`prepare`: ask an LLM for the questions each passage answers and write llama_index QA datasets.

files -> dataclasses -> files: node files (from `split`) -> prompts -> replies (appended to a cache
as they arrive) -> parsed, filtered queries -> `<stem>_train_dataset.json` / `<stem>_val_dataset.json`.
Requests run concurrently with retries; a rerun after an interruption only asks for what is missing.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from wmemb.errors import WMEmbError
from wmemb.generate.backends import Completion, RequestError, RetryableError, open_backend
from wmemb.generate.cache import ReplyCache, cache_key
from wmemb.generate.filters import QueryFilter, consistent_queries
from wmemb.generate.parse import parse_questions
from wmemb.generate.prompts import PromptSet
from wmemb.io import ensure_writable_dir, write_json, write_jsonl
from wmemb.records import Node, QADataset, read_nodes

log = logging.getLogger(__name__)


@dataclass
class PrepareOptions:
    llm: str = "auto"  # auto | openai | ollama | local
    base_urls: list[str] = field(default_factory=list)
    model: str | None = None  # server model name, or a local causal-LM folder / .gguf file
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 8  # requests in flight (local: batch size)
    questions_per_chunk: int = 2
    prompt_file: str | None = None
    filter_topk: int | None = None  # keep a query only if its passage ranks in this top K
    embed_model: str | None = None  # model of the consistency filter; default packaged MiniLM
    max_retries: int = 5
    timeout: float = 120.0  # seconds per request
    json_mode: bool = False
    max_tokens: int | None = None  # reply cap; servers: their default, local: 48 per question
    temperature: float | None = None  # servers: their default; local is greedy
    retry_base_delay: float = 1.0  # first backoff; doubles per attempt, capped at retry_max_delay
    retry_max_delay: float = 60.0

    def check(self) -> PrepareOptions:
        if self.concurrency < 1:
            raise WMEmbError(f"--concurrency {self.concurrency}: must be at least 1")
        if self.questions_per_chunk < 1:
            raise WMEmbError(f"--questions-per-chunk {self.questions_per_chunk}: must be at least 1")
        if self.max_retries < 0:
            raise WMEmbError(f"--max-retries {self.max_retries}: must be 0 or more")
        if self.timeout <= 0:
            raise WMEmbError(f"--timeout {self.timeout}: must be positive")
        if self.filter_topk is not None and self.filter_topk < 1:
            raise WMEmbError(f"--filter-topk {self.filter_topk}: must be at least 1")
        return self


@dataclass
class SplitResult:
    split: str
    passages: int
    reused: int  # replies taken from the cache of an earlier run
    generated: int
    failed: int
    queries: int
    dropped: dict[str, int]
    languages: dict[str, int]
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    dataset_path: str


@dataclass
class PrepareSummary:
    backend: str
    model: str
    train: SplitResult
    val: SplitResult
    failures_path: str | None

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class _Job:
    node: Node
    key: str
    language: str
    prompt: str


def output_stem(nodes_path: str | Path) -> str:
    stem = Path(nodes_path).stem
    for suffix in ("_train_nodes", "_val_nodes"):
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def backoff_delay(attempt: int, retry_after: float | None, options: PrepareOptions, rng: random.Random) -> float:
    """Exponential backoff with jitter (so retrying clients spread out); never shorter than the
    server's Retry-After."""
    delay = min(options.retry_max_delay, options.retry_base_delay * 2**attempt) * rng.uniform(0.5, 1.0)
    return max(delay, retry_after or 0.0)


async def complete_with_retries(backend, job: _Job, options: PrepareOptions, rng: random.Random) -> Completion:
    attempt = 0
    while True:
        try:
            return await backend.complete(
                job.prompt, json_mode=options.json_mode, max_tokens=options.max_tokens, temperature=options.temperature
            )
        except RetryableError as exc:
            if attempt == options.max_retries:
                raise RequestError(f"{exc} (gave up after {attempt + 1} attempts)") from None
            delay = backoff_delay(attempt, exc.retry_after, options, rng)
            log.debug("passage %s: %s; retry %d in %.2f s", job.node.id, exc, attempt + 1, delay)
            await asyncio.sleep(delay)
            attempt += 1


class Generator:
    """Runs the jobs of one split through the backend with `concurrency` workers."""

    def __init__(self, backend, options: PrepareOptions, cache: ReplyCache, split: str):
        self.backend, self.options, self.cache, self.split = backend, options, cache, split
        self.failures: list[dict] = []
        self.prompt_tokens = self.completion_tokens = 0
        self.rng = random.Random()

    async def run(self, jobs: list[_Job]) -> None:
        pending = deque(jobs)
        with tqdm(
            total=len(jobs), unit="passage", desc=f"prepare {self.split}", dynamic_ncols=True, disable=not jobs
        ) as bar:
            workers = [
                asyncio.create_task(self._work(pending, bar)) for _ in range(min(self.options.concurrency, len(jobs)))
            ]
            try:
                await asyncio.gather(*workers)
            finally:
                for worker in workers:
                    worker.cancel()
                await asyncio.gather(*workers, return_exceptions=True)

    async def _work(self, pending: deque, bar: tqdm) -> None:
        while pending:
            job = pending.popleft()
            try:
                completion = await complete_with_retries(self.backend, job, self.options, self.rng)
            except RequestError as exc:
                self.failures.append(
                    {"split": self.split, "node_id": job.node.id, "source": job.node.source, "error": str(exc)}
                )
                log.debug("passage %s failed: %s", job.node.id, exc)
            else:
                self.cache.add(
                    {
                        "key": job.key,
                        "split": self.split,
                        "node_id": job.node.id,
                        "model": self.backend.model,
                        "language": job.language,
                        "reply": completion.text,
                        "prompt_tokens": completion.prompt_tokens,
                        "completion_tokens": completion.completion_tokens,
                    }
                )
                self.prompt_tokens += completion.prompt_tokens
                self.completion_tokens += completion.completion_tokens
            bar.update(1)
            bar.set_postfix(
                tokens=self.prompt_tokens + self.completion_tokens, failed=len(self.failures), refresh=False
            )


def build_dataset(
    nodes: list[Node], jobs: list[_Job], cache: ReplyCache, options: PrepareOptions
) -> tuple[QADataset, Counter]:
    """Queries from the cached replies, filtered; the corpus is every passage (the others are the
    distractors retrieval is scored against)."""
    query_filter = QueryFilter()
    queries: dict[str, str] = {}
    relevant: dict[str, str] = {}
    for job in jobs:
        record = cache.get(job.key)
        if record is None:
            continue
        kept = query_filter.keep(parse_questions(record["reply"]), job.node.text)
        if len(kept) > options.questions_per_chunk:
            query_filter.dropped["extra"] += len(kept) - options.questions_per_chunk
        for index, question in enumerate(kept[: options.questions_per_chunk]):
            qid = f"{job.node.id}-q{index}"
            queries[qid] = question
            relevant[qid] = job.node.id
    corpus = {node.id: node.text for node in nodes}
    dropped = query_filter.dropped
    if options.filter_topk and queries:
        keep = consistent_queries(queries, relevant, corpus, options.embed_model, options.filter_topk)
        dropped["inconsistent"] = len(queries) - len(keep)
        queries = {qid: text for qid, text in queries.items() if qid in keep}
    dataset = QADataset(queries=queries, corpus=corpus, relevant_docs={qid: [relevant[qid]] for qid in queries})
    return dataset, dropped


async def _prepare_split(
    backend,
    split: str,
    nodes_path: Path,
    dataset_path: Path,
    cache_path: Path,
    prompts: PromptSet,
    options: PrepareOptions,
) -> tuple[SplitResult, list[dict]]:
    started = time.perf_counter()
    nodes = read_nodes(nodes_path)
    jobs = []
    for node in nodes:
        language, template, prompt = prompts.render(node.text, options.questions_per_chunk)
        jobs.append(
            _Job(
                node,
                cache_key(split, node.text, template, backend.model, options.questions_per_chunk),
                language,
                prompt,
            )
        )
    languages = Counter(job.language for job in jobs)
    log.info(
        "%s: %d passages (%s)",
        nodes_path,
        len(nodes),
        ", ".join(f"{n} {lang}" for lang, n in sorted(languages.items())),
    )
    with ReplyCache(cache_path) as cache:
        todo = [job for job in jobs if job.key not in cache]
        reused = len(jobs) - len(todo)
        if reused:
            log.info("%s: %d passages already answered in %s; generating %d", split, reused, cache_path.name, len(todo))
        generator = Generator(backend, options, cache, split)
        await generator.run(todo)
        dataset, dropped = build_dataset(nodes, jobs, cache, options)
    if not dataset.queries:
        raise WMEmbError(
            f"{nodes_path}: no usable questions came back ({len(generator.failures)} passages failed, "
            f"dropped: {dict(dropped) or 'none'}); check the failures file and the model (--model, --llm)"
        )
    dataset.validate(dataset_path).save(dataset_path)
    log.info("%s: %d queries -> %s (dropped: %s)", split, len(dataset.queries), dataset_path, dict(dropped) or "none")
    result = SplitResult(
        split=split,
        passages=len(nodes),
        reused=reused,
        generated=len(todo) - len(generator.failures),
        failed=len(generator.failures),
        queries=len(dataset.queries),
        dropped=dict(dropped),
        languages=dict(languages),
        prompt_tokens=generator.prompt_tokens,
        completion_tokens=generator.completion_tokens,
        seconds=round(time.perf_counter() - started, 3),
        dataset_path=str(dataset_path),
    )
    return result, generator.failures


async def prepare_async(
    train_nodes: str | Path, val_nodes: str | Path, out_dir: str | Path, options: PrepareOptions | None = None
) -> PrepareSummary:
    options = (options or PrepareOptions()).check()
    train_nodes, val_nodes = Path(train_nodes), Path(val_nodes)
    for path in (train_nodes, val_nodes):
        if not path.is_file():
            raise WMEmbError(
                f"{path}: node file not found; run `wmemb split` first and pass the *_nodes.jsonl it reports"
            )
    out = ensure_writable_dir(out_dir)
    stem = output_stem(train_nodes)
    prompts = (
        PromptSet.from_file(options.prompt_file, options.json_mode)
        if options.prompt_file
        else PromptSet.builtin(options.json_mode)
    )
    backend = await open_backend(
        options.llm,
        options.base_urls,
        options.model,
        options.api_key_env,
        options.timeout,
        options.concurrency,
        local_max_tokens=options.max_tokens or 48 * options.questions_per_chunk,
    )
    try:
        results, failures = {}, []
        for split, nodes_path in (("train", train_nodes), ("val", val_nodes)):
            results[split], split_failures = await _prepare_split(
                backend,
                split,
                nodes_path,
                out / f"{stem}_{split}_dataset.json",
                out / f"{stem}_{split}_replies.jsonl",
                prompts,
                options,
            )
            failures += split_failures
    finally:
        await backend.close()
    failures_path = out / f"{stem}_prepare_failures.jsonl"
    if failures:
        write_jsonl(failures_path, failures)
        log.warning(
            "%d passages failed; listed in %s - rerun the same command to retry them", len(failures), failures_path
        )
    else:
        failures_path.unlink(missing_ok=True)  # a stale list from an earlier run would mislead
    summary = PrepareSummary(
        backend=backend.name,
        model=backend.model,
        train=results["train"],
        val=results["val"],
        failures_path=str(failures_path) if failures else None,
    )
    write_json(out / f"{stem}_prepare_summary.json", summary.to_json())
    return summary


def prepare_datasets(
    train_nodes: str | Path, val_nodes: str | Path, out_dir: str | Path, options: PrepareOptions | None = None
) -> PrepareSummary:
    """Write `<stem>_train_dataset.json` and `<stem>_val_dataset.json` into `out_dir`; see PrepareOptions."""
    return asyncio.run(prepare_async(train_nodes, val_nodes, out_dir, options))


def import_llama_index_dataset(source: str | Path, target: str | Path) -> QADataset:
    """Validate a dataset llama_index wrote (ASCII-escaped JSON) and save it as readable UTF-8."""
    dataset = QADataset.load(source)
    dataset.save(target)
    return dataset
