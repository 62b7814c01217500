"""`prepare`: ask an LLM for the queries each passage answers and write llama_index QA datasets.

files -> dataclasses -> files: node files (from `split`) -> prompts -> replies (appended to a cache
as they arrive) -> parsed, filtered queries -> `<stem>_train_dataset.json` / `<stem>_val_dataset.json`,
`<stem>_{train,val}_dropped.jsonl` (each dropped candidate line and why) and `<stem>_prepare_summary.json`.
Questions in another language than their passage are dropped (`wrong_language`), and a model that writes most of
its first replies to one language's passages in another stops the run (`LANGUAGE_SAMPLE`).

Each passage is asked once per query style (`query_styles`: questions, keyword queries), for up to
`questions_per_chunk` queries each; a query's id says its style (`<passage id>-q<i>` a question, `-k<i>` a keyword
query: `query_style`), so the datasets keep llama_index's layout, and the summary counts each style (`by_style`).

Both splits' passages share one queue of requests, `concurrency` in flight, with retries; a rerun
after an interruption only asks for what is missing. Every input is checked before anything is
written, and a run's outputs are written together or not at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import shutil
import tempfile
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from wmemb.errors import WMEmbError
from wmemb.files import RunNames
from wmemb.generate.backends import (
    BackendOptions,
    Completion,
    MalformedReply,
    RequestError,
    RetryableError,
    open_backend,
)
from wmemb.generate.cache import ReplyCache, cache_key
from wmemb.generate.estimate import CAP_HINT, RATE_SAMPLE, Answered, CostEstimate, estimate_cost, time_left_sentence
from wmemb.generate.filters import QueryFilter, consistent_queries, expected_language
from wmemb.generate.parse import parse_reply, strip_think
from wmemb.generate.prompts import PromptSet, fill
from wmemb.generate.reasons import DropReason
from wmemb.io import ensure_writable_dir, write_json, write_jsonl
from wmemb.jsonable import JsonRecord
from wmemb.records import Node, QADataset, read_nodes, seeded_sample
from wmemb.settings import check_options, shared
from wmemb.text import text_language

log = logging.getLogger(__name__)

# SmolLM2's questions are 10-25 tokens; what runs past 32 per question is rambling that yields no
# question but costs decode steps for its whole batch (bench/bench_local_llm.py: 48 -> 32 kept as many)
LOCAL_TOKENS_PER_QUESTION = 32
# A keyword query is 3-10 tokens; the local model's stop rule counts question lines, so a keyword reply runs to
# its cap: this one leaves room for a preamble line and two queries without paying for rambling.
LOCAL_TOKENS_PER_KEYWORD_QUERY = 16
QUERY_ID_MARKS = {"questions": "q", "keywords": "k"}
"""style -> the letter before a query's index in its id: `<passage id>-q0` is a question, `-k0` a keyword query."""
# Passages whose replies all failed the same malformed way, before any reply was usable, that stop the run: a
# server that always answers so (HTML from a wrong --base-url, 200 without choices) would otherwise be asked
# max_retries + 1 times about every passage.
SYSTEMATIC_FAILURES = 3
# The first replies holding questions to passages of one language (or all, where there are fewer) whose language
# is checked: when most are in another one, the model does not write that language (SmolLM2 answers Chinese
# passages in English) and prepare stops instead of dropping every question. 8: one batch of the local model at the
# default concurrency.
LANGUAGE_SAMPLE = 8
LANGUAGE_NAMES = {
    "zh": "Chinese",
    "en": "English",
    "ja": "Japanese",
    "ko": "Korean",
    "latin": "another Latin-script language",
}


@dataclass
class PrepareOptions:
    # the fields declared `shared` take a setting of `wmemb run` (settings.py: default, help, range, choices)
    llm: str = shared("llm")  # auto, or a backend of generate.backends.REGISTRY
    base_urls: list[str] = shared("base_url")
    model: str | None = shared("llm_model", flag="--model")  # server model name, or a local causal-LM / .gguf
    api_key_env: str = shared("api_key_env")
    concurrency: int = shared("concurrency")  # requests in flight (local: batch size)
    questions_per_chunk: int = shared("questions_per_chunk")  # queries per passage and style
    query_styles: list[str] = shared("query_styles")  # each passage is asked once per style
    prompt_file: str | None = shared("prompt_file")  # replaces the question prompts; the other styles keep theirs
    filter_topk: int | None = shared(  # keep a query only if its passage ranks in this top K
        "filter_topk", help="Keep a query only if --embed-model ranks its passage in this top K."
    )
    embed_model: str | None = None  # model of the consistency filter; default packaged MiniLM
    max_retries: int = 5
    timeout: float = 120.0  # seconds per request
    json_mode: bool = False
    max_tokens: int | None = None  # reply cap; servers: their default, local: LOCAL_TOKENS_PER_QUESTION each
    temperature: float | None = None  # servers: their default; local is greedy
    retry_base_delay: float = 1.0  # first backoff; doubles per attempt, capped at retry_max_delay
    retry_max_delay: float = 60.0
    # ask about a seeded sample of this many passages per split; the others stay in the dataset's corpus
    # as distractors, so retrieval is scored against the whole split, not only the passages asked about
    max_train_passages: int | None = shared("max_train_passages")
    max_val_passages: int | None = shared("max_val_passages")
    seed: int = shared("seed", help="Seed of that sample.")

    def check(self) -> PrepareOptions:
        check_options(self)  # the bounds and choices its settings declare
        if self.max_retries < 0:
            raise WMEmbError(f"--max-retries {self.max_retries}: must be 0 or more")
        if self.timeout <= 0:
            raise WMEmbError(f"--timeout {self.timeout}: must be positive")
        if not self.query_styles:
            raise WMEmbError(f"--query-styles: none given; choose from {', '.join(QUERY_ID_MARKS)}")
        self.query_styles = list(dict.fromkeys(self.query_styles))  # a style named twice is asked once
        return self

    def cap(self, split: str) -> int | None:
        return self.max_train_passages if split == "train" else self.max_val_passages


@dataclass
class DatasetSummary(JsonRecord):
    """What prepare made of one split (train or val)."""

    split: str
    passages: int  # asked about
    corpus_passages: int  # in the dataset's corpus: every passage of the split
    passages_with_queries: int  # asked about and kept at least one question
    reused: int  # replies taken from the cache of an earlier run
    generated: int
    failed: int
    queries: int
    dropped: dict[str, int]  # reason -> candidate lines dropped; the lines are in dropped_path
    languages: dict[str, int]  # language -> passages
    by_language: dict[str, dict]  # language -> {passages, failed, queries, dropped: {reason: n}}
    by_style: dict[str, dict]  # query style -> {passages, failed, queries, dropped: {reason: n}}
    prompt_tokens: int
    completion_tokens: int
    dataset_path: str
    dropped_path: str


@dataclass
class PrepareSummary(JsonRecord):
    backend: str
    model: str
    train: DatasetSummary
    val: DatasetSummary
    failures_path: str | None
    seconds: float  # wall time of the whole run, both splits


@dataclass
class _Split:
    """One split's passages and, while generating, its reply cache, failures and token counts."""

    name: str
    nodes_path: Path
    nodes: list[Node]  # the dataset's corpus
    asked: list[Node]  # the passages questions are asked for: all, or the max_*_passages sample
    jobs: list[_Job] = field(default_factory=list)
    todo: list[_Job] = field(default_factory=list)  # jobs with no cached reply: asked in this run
    cache: ReplyCache | None = None
    failures: list[dict] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class _Job:
    split: _Split
    node: Node
    key: str
    language: str  # of the prompt
    template: str
    questions: int  # queries asked for
    style: str = "questions"
    checks_language: bool = True  # False: a custom prompt decides the language of its queries
    max_tokens: int | None = None  # reply cap; None: the backend's

    @property
    def prompt(self) -> str:
        # rendered when sent, not held: at 10^5 passages the prompts would double the memory of the passages
        return fill(self.template, self.node.text, self.questions)

    @functools.cached_property
    def expects(self) -> str | None:
        """The language its queries must be in (`expected_language`); None: not checked. Worked out when its reply
        comes (the regexes take ~0.1 ms a passage: 10 s before the first request at 10^5 passages)."""
        return expected_language(self.node.text) if self.checks_language else None


def query_style(query_id: str) -> str:
    """The style of a query prepare wrote, from its id (`QUERY_ID_MARKS`); "questions" for any other id."""
    mark = query_id.rpartition("-")[2][:1]
    return next((style for style, letter in QUERY_ID_MARKS.items() if letter == mark), "questions")


def backoff_delay(attempt: int, retry_after: float | None, options: PrepareOptions, rng: random.Random) -> float:
    """Exponential backoff with jitter (so retrying clients spread out); never shorter than the
    server's Retry-After."""
    delay = min(options.retry_max_delay, options.retry_base_delay * 2**attempt) * rng.uniform(0.5, 1.0)
    return max(delay, retry_after or 0.0)


async def complete_with_retries(
    backend,
    job: _Job,
    options: PrepareOptions,
    rng: random.Random,
    on_retryable: Callable[[_Job, RetryableError], None] = lambda job, exc: None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> Completion:
    """One passage's reply, retried with backoff; `on_retryable` sees every failed attempt (and may stop the run);
    `sleep` waits out each backoff (a test records it instead)."""
    attempt = 0
    while True:
        try:
            return await backend.complete(
                job.prompt, json_mode=options.json_mode, max_tokens=job.max_tokens, temperature=options.temperature
            )
        except RetryableError as exc:
            on_retryable(job, exc)
            if attempt == options.max_retries:
                raise RequestError(f"{exc} (gave up after {attempt + 1} attempts)") from None
            delay = backoff_delay(attempt, exc.retry_after, options, rng)
            log.debug("passage %s: %s; retry %d in %.2f s", job.node.id, exc, attempt + 1, delay)
            await sleep(delay)
            attempt += 1


class Generator:
    """Runs the jobs of both splits through the backend from one queue, `concurrency` in flight
    from the first request to the last; each reply goes to its own split's cache."""

    def __init__(self, backend, options: PrepareOptions):
        self.backend, self.options = backend, options
        self.failed = self.tokens = 0
        self.total, self.done = 0, 0  # of `run`: how many jobs, how many replied or failed
        self.rate_from: float | None = None  # when the first `concurrency` were done: the rate is measured from there
        self.rng = random.Random()
        self.answered = False  # a usable reply came back
        self.malformed: dict[str, set[str]] = {}  # until then: malformed reply -> the jobs (keys) that got it
        # language -> (language found, reply) of the first replies holding questions
        self.reply_languages: dict[str, list[tuple[str, str]]] = {}

    def _check_language(self, job: _Job, reply: str) -> None:
        """Stop the run when the questions of most of the first LANGUAGE_SAMPLE replies (that hold questions) to one
        language's passages are in another language; a language with fewer such replies is judged when all came
        (`run`)."""
        if job.expects is None:
            return
        seen = self.reply_languages.setdefault(job.expects, [])
        found = reply_language(reply, job.style) if len(seen) < LANGUAGE_SAMPLE else ""
        if not found:  # no question to tell by, or decided already
            return
        seen.append((found, reply))
        if len(seen) == LANGUAGE_SAMPLE:
            self._judge_language(job.expects)

    def _judge_language(self, language: str) -> None:
        seen = self.reply_languages[language]
        wrong = [(found, text) for found, text in seen if found != language]
        if 2 * len(wrong) > len(seen):
            raise WMEmbError(wrong_language_message(language, len(seen), wrong, self.backend))

    def _stop_if_systematic(self, job: _Job, exc: RetryableError) -> None:
        if self.answered or not isinstance(exc, MalformedReply):
            return
        self.malformed.setdefault(str(exc), set()).add(job.key)
        (cause, jobs), *others = self.malformed.items()
        if not others and len(jobs) >= SYSTEMATIC_FAILURES:
            raise WMEmbError(
                f"{cause}, for each of the first {len(jobs)} passages and no usable reply yet, so prepare stopped "
                "instead of asking about every passage; check that --base-url is the server's OpenAI-compatible "
                "(.../v1) or Ollama address, and --llm and --model"
            )

    async def run(self, jobs: list[_Job]) -> None:
        pending = deque(jobs)
        self.total, self.done = len(jobs), 0
        with tqdm(total=len(jobs), unit="passage", desc="prepare", dynamic_ncols=True, disable=not jobs) as bar:
            workers = [
                asyncio.create_task(self._work(pending, bar)) for _ in range(min(self.options.concurrency, len(jobs)))
            ]
            try:
                await asyncio.gather(*workers)
            finally:
                for worker in workers:
                    worker.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
        for language, seen in self.reply_languages.items():
            if 0 < len(seen) < LANGUAGE_SAMPLE:  # all the replies of that language there are
                self._judge_language(language)

    async def _work(self, pending: deque, bar: tqdm) -> None:
        while pending:
            job = pending.popleft()
            split = job.split
            try:
                completion = await complete_with_retries(
                    self.backend, job, self.options, self.rng, self._stop_if_systematic
                )
            except RequestError as exc:
                split.failures.append(
                    {
                        "split": split.name,
                        "node_id": job.node.id,
                        "style": job.style,
                        "source": job.node.source,
                        "error": str(exc),
                    }
                )
                self.failed += 1
                log.debug("passage %s failed: %s", job.node.id, exc)
            else:
                self.answered = True
                split.cache.add(
                    {
                        "key": job.key,
                        "split": split.name,
                        "node_id": job.node.id,
                        "model": self.backend.model,
                        "language": job.language,
                        "style": job.style,
                        "reply": completion.text,
                        "prompt_tokens": completion.prompt_tokens,
                        "completion_tokens": completion.completion_tokens,
                    }
                )
                split.prompt_tokens += completion.prompt_tokens
                split.completion_tokens += completion.completion_tokens
                self.tokens += completion.prompt_tokens + completion.completion_tokens
                self._check_language(job, completion.text)
            bar.update(1)
            bar.set_postfix(tokens=self.tokens, failed=self.failed, refresh=False)
            self.done += 1
            # the rate of this backend on these passages, said once: measured from when the first `concurrency`
            # replies came (the first wave's, one reply time after the start, would halve it) over the next RATE_SAMPLE
            in_flight = min(self.options.concurrency, self.total)
            if self.done == in_flight:
                self.rate_from = time.perf_counter()
            elif self.rate_from is not None and self.done == in_flight + RATE_SAMPLE < self.total:
                seconds = time.perf_counter() - self.rate_from
                log.info("prepare: %s", time_left_sentence(RATE_SAMPLE, seconds, self.total - self.done, in_flight))


def reply_language(reply: str, style: str = "questions") -> str:
    """The language a reply's candidate queries are written in; "" where it holds none (a preamble alone says
    little) or they hold no letters."""
    return text_language("\n".join(parse_reply(reply, style).questions))


def wrong_language_message(language: str, replies: int, wrong: list[tuple[str, str]], backend) -> str:
    """Why prepare stopped: most of the first replies to `language` passages are in another language."""
    counts = ", ".join(
        f"{LANGUAGE_NAMES.get(found, found.capitalize() + ' script')} {n}"
        for found, n in Counter(found for found, _ in wrong).most_common()
    )
    name = LANGUAGE_NAMES[language]
    example = " ".join(strip_think(wrong[0][1]).split())[:80]
    return (
        f"{len(wrong)} of the first {replies} replies to {name} passages are not in {name} ({counts}; e.g. "
        f"{example!r}): the {backend.name} model {backend.model} does not write {name}, so prepare stopped instead of "
        f"dropping every question; use a server model that writes {name}: `ollama pull qwen2.5:7b && wmemb run ... "
        "--llm ollama --llm-model qwen2.5:7b`, or an OpenAI-compatible server: `--llm openai --base-url "
        "http://host:8000/v1 --llm-model Qwen2.5-7B-Instruct` (`wmemb prepare` takes --model)"
    )


def build_dataset(split: _Split, options: PrepareOptions) -> tuple[QADataset, list[dict]]:
    """Queries from the cached replies, filtered, and one record per dropped candidate
    ({node_id, language, style, query, reason}); the corpus is every passage (the others are the
    distractors retrieval is scored against)."""
    assert split.cache is not None, "the cache is open while datasets are built"
    query_filter = QueryFilter()
    queries: dict[str, str] = {}
    job_of: dict[str, _Job] = {}
    dropped: list[dict] = []
    for job in split.jobs:
        cached = split.cache.get(job.key)
        if cached is None:
            continue
        reply, cut = cached.reply, []
        if job.max_tokens and cached.completion_tokens >= job.max_tokens:
            # the reply hit its cap: its last line stopped mid-query ("Binding Oper"), which a keyword query, having
            # no question mark to miss, would otherwise pass as a shorter query
            reply, _, last = reply.strip().rpartition("\n")
            cut = [(last.strip(), DropReason.CUT_OFF)]
        parsed = parse_reply(reply, job.style)
        # a custom prompt decides the language of its queries (job.expects is None then)
        kept, rejected = query_filter.keep(parsed.questions, job.node.text, job.style, check_language=bool(job.expects))
        extra = [(question, DropReason.EXTRA) for question in kept[options.questions_per_chunk :]]
        for line, reason in parsed.discarded + cut + rejected + extra:
            dropped.append(
                {"node_id": job.node.id, "language": job.language, "style": job.style, "query": line, "reason": reason}
            )
        for index, question in enumerate(kept[: options.questions_per_chunk]):
            qid = f"{job.node.id}-{QUERY_ID_MARKS[job.style]}{index}"
            queries[qid] = question
            job_of[qid] = job
    corpus = {node.id: node.text for node in split.nodes}
    if options.filter_topk and queries:
        relevant = {qid: job.node.id for qid, job in job_of.items()}
        keep = consistent_queries(queries, relevant, corpus, options.embed_model, options.filter_topk)
        for qid in [qid for qid in queries if qid not in keep]:
            job = job_of[qid]
            dropped.append(
                {
                    "node_id": job.node.id,
                    "language": job.language,
                    "style": job.style,
                    "query": queries.pop(qid),
                    "reason": DropReason.INCONSISTENT,
                }
            )
    dataset = QADataset(queries=queries, corpus=corpus, relevant_docs={qid: [job_of[qid].node.id] for qid in queries})
    return dataset, dropped


def _reason_counts(dropped: Mapping[str, int]) -> str:
    """`not_question 216, duplicate 158`: the reasons' plain names, most frequent first (a dict would print
    the DropReason members' reprs)."""
    return ", ".join(f"{reason} {n}" for reason, n in Counter(dropped).most_common())


def _summarize(split: _Split, dataset: QADataset, dropped: list[dict], paths: dict[str, Path]) -> DatasetSummary:
    failed_ids = {failure["node_id"] for failure in split.failures}
    language_of_node = {job.node.id: job.language for job in split.jobs}
    languages = Counter(language_of_node.values())  # passages, whatever the number of styles asked about each
    by_language = {
        language: {
            "passages": passages,
            "failed": sum(language_of_node[node_id] == language for node_id in failed_ids),
            "queries": sum(language_of_node[docs[0]] == language for docs in dataset.relevant_docs.values()),
            "dropped": dict(Counter(d["reason"] for d in dropped if d["language"] == language)),
        }
        for language, passages in sorted(languages.items())
    }
    styles = Counter(job.style for job in split.jobs)
    by_style = {
        style: {
            "passages": passages,
            "failed": sum(failure["style"] == style for failure in split.failures),
            "queries": sum(query_style(qid) == style for qid in dataset.queries),
            "dropped": dict(Counter(d["reason"] for d in dropped if d["style"] == style)),
        }
        for style, passages in styles.items()
    }
    return DatasetSummary(
        split=split.name,
        passages=len(split.asked),
        corpus_passages=len(split.nodes),
        passages_with_queries=dataset.passages_with_queries(),
        reused=len(split.jobs) - len(split.todo),
        generated=len(split.todo) - len(split.failures),
        failed=len(split.failures),
        queries=len(dataset.queries),
        dropped=dict(Counter(d["reason"] for d in dropped)),
        languages=dict(languages),
        by_language=by_language,
        by_style=by_style,
        prompt_tokens=split.prompt_tokens,
        completion_tokens=split.completion_tokens,
        dataset_path=str(paths["dataset"]),
        dropped_path=str(paths["dropped"]),
    )


def _no_questions_error(split: _Split, dropped: list[dict], failures_path: Path) -> WMEmbError:
    """Why a split has no query: its requests failed, or its replies held no usable question."""
    causes = []
    if split.failures:
        causes.append(
            f"{len(split.failures)} of {len(split.jobs)} requests failed (first error: {split.failures[0]['error']}; "
            f"all listed in {failures_path})"
        )
    answered = len(split.jobs) - len(split.failures)
    if answered:
        reasons = _reason_counts(Counter(d["reason"] for d in dropped))
        example = f"; e.g. {dropped[0]['query'][:60]!r}" if dropped else ""
        causes.append(f"{answered} replies held no usable question (dropped: {reasons or 'no lines'}{example})")
    return WMEmbError(
        f"{split.nodes_path}: {split.name}: no usable questions came back: {'; '.join(causes)}; "
        "check the server and the model (--llm, --model, --base-url)"
    )


def _write_together(out: Path, writers: dict[str, Callable[[Path], object]]) -> None:
    """Write every file into a staging folder inside `out`, then move them all into place, so a run
    that fails while writing leaves the previous run's outputs as they were."""
    staging = Path(tempfile.mkdtemp(dir=out, prefix=".prepare-"))
    try:
        for name, write in writers.items():
            write(staging / name)
        for name in writers:
            os.replace(staging / name, out / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def _removed_if_left_empty(out: Path) -> Iterator[None]:
    """Create the output folder; a run that fails leaves it as it found it, not a new folder of empty reply caches."""
    created = not out.exists()
    ensure_writable_dir(out)
    try:
        yield
    except BaseException:
        if created and all(path.is_file() and not path.stat().st_size for path in out.rglob("*")):
            shutil.rmtree(out, ignore_errors=True)
        raise


def _cost(splits: list[_Split], queue: list[_Job], options: PrepareOptions) -> CostEstimate:
    """What sending `queue` costs, calibrated by the requests of `splits` the replies cache already answered."""
    answered = [
        Answered(job.language, len(job.prompt), entry.prompt_tokens, entry.completion_tokens)
        for split in splits
        if split.cache is not None
        for job in split.jobs
        if (entry := split.cache.get(job.key)) is not None
    ]
    return estimate_cost([(job.language, job.prompt) for job in queue], options.questions_per_chunk, answered)


def _read_split(name: str, path: str | Path, options: PrepareOptions) -> _Split:
    path = Path(path)
    if not path.is_file():
        raise WMEmbError(f"{path}: node file not found; run `wmemb split` first and pass the *_nodes.jsonl it reports")
    nodes = read_nodes(path)
    cap = options.cap(name)
    if cap is None:
        return _Split(name, path, nodes, nodes)
    if cap >= len(nodes):  # a cap set for a larger corpus (a config shared by several books) takes all
        log.info("%s: max_%s_passages %d >= its %d passages: asking about all", path, name, cap, len(nodes))
        return _Split(name, path, nodes, nodes)
    # seed + 1: not the hash order split used to choose the validation passages
    asked = seeded_sample(nodes, cap, options.seed + 1)
    log.info(
        "%s: questions for %d of its %d passages (max_%s_passages); all stay in the corpus", path, cap, len(nodes), name
    )
    return _Split(name, path, nodes, asked)


def _job(split: _Split, node: Node, style: str, prompts: PromptSet, backend, options: PrepareOptions) -> _Job:
    """The request for one passage's queries of one style."""
    n = options.questions_per_chunk
    language, template = prompts.template_for(node.text, style)
    key = cache_key(split.name, node.text, template, backend.model, n)
    # a backend's own cap (the local model's) is sized for question lines, and its stop rule counts them, so a keyword
    # reply would run to the question cap
    own_cap_keywords = backend.default_max_tokens is not None and style == "keywords"
    max_tokens = options.max_tokens or (LOCAL_TOKENS_PER_KEYWORD_QUERY * n if own_cap_keywords else None)
    return _Job(split, node, key, language, template, n, style, not prompts.is_custom(style), max_tokens)


async def prepare_async(
    train_nodes: str | Path, val_nodes: str | Path, out_dir: str | Path, options: PrepareOptions | None = None
) -> PrepareSummary:
    started = time.perf_counter()
    # every input is checked before anything is written or sent
    options = (options or PrepareOptions()).check()
    prompts = (
        PromptSet.from_file(options.prompt_file, options.json_mode)
        if options.prompt_file
        else PromptSet.builtin(options.json_mode)
    )
    splits = [_read_split("train", train_nodes, options), _read_split("val", val_nodes, options)]
    run = RunNames.of_nodes(train_nodes)  # every file prepare writes is named after the run of its nodes
    out = Path(out_dir).expanduser()
    names = {
        split.name: {
            "dataset": run.dataset(split.name),
            "dropped": run.dropped(split.name),
            "replies": run.replies(split.name),
        }
        for split in splits
    }
    summary_name, failures_name = run.prepare_summary(), run.prepare_failures()
    inputs = {Path(p).resolve() for p in (train_nodes, val_nodes, options.prompt_file) if p}
    for name in [summary_name, failures_name] + [n for kinds in names.values() for n in kinds.values()]:
        if (out / name).resolve() in inputs:
            raise WMEmbError(f"{out / name}: prepare would write over its own input; choose another -o/--output")
    with _removed_if_left_empty(out):
        backend = await open_backend(
            options.llm,
            BackendOptions(
                base_urls=tuple(options.base_urls),
                model=options.model,
                api_key_env=options.api_key_env,
                timeout=options.timeout,
                concurrency=options.concurrency,
                max_tokens=options.max_tokens or LOCAL_TOKENS_PER_QUESTION * options.questions_per_chunk,
                # a JSON reply holds its questions inside one object: cutting it at a question line would break it
                stop_after_questions=None if options.json_mode else options.questions_per_chunk,
            ),
        )
        try:
            with contextlib.ExitStack() as caches:
                for split in splits:
                    split.cache = caches.enter_context(ReplyCache(out / names[split.name]["replies"]))
                    for style in options.query_styles:
                        split.jobs += [_job(split, node, style, prompts, backend, options) for node in split.asked]
                    split.todo = [job for job in split.jobs if job.key not in split.cache]
                    languages = Counter(job.language for job in split.jobs)
                    log.info(
                        "%s: %d passages to ask about, %d requests (%s), %d already answered in %s",
                        split.nodes_path,
                        len(split.asked),
                        len(split.jobs),
                        ", ".join(f"{n} {lang}" for lang, n in sorted(languages.items())),
                        len(split.jobs) - len(split.todo),
                        split.cache.path.name,
                    )
                # one style and language at a time, longest prompt (passage: one template per style and language)
                # first: a local model then batches prompts of similar token length and reply cap, with little
                # padding (prefill is about half its time); servers do not mind
                queue = sorted(
                    (job for split in splits for job in split.todo),
                    key=lambda j: (j.style, j.language, -len(j.node.text)),
                )
                if queue:  # the cost before any request: the user can still cap it
                    log.info("prepare: %s; %s", _cost(splits, queue, options).sentence(), CAP_HINT)
                await Generator(backend, options).run(queue)
                built = {split.name: build_dataset(split, options) for split in splits}
        finally:
            await backend.close()

        failures = [failure for split in splits for failure in split.failures]
        failures_path = out / failures_name
        if failures:  # written even when the run fails below: it says why
            write_jsonl(failures_path, failures)
            log.warning(
                "%d requests failed; listed in %s - rerun the same command to retry them", len(failures), failures_path
            )
        for split in splits:
            dataset, dropped = built[split.name]
            if not dataset.queries:
                raise _no_questions_error(split, dropped, failures_path)
            dataset.validate(out / names[split.name]["dataset"])
        results = {}
        for split in splits:
            dataset, dropped = built[split.name]
            paths = {kind: out / name for kind, name in names[split.name].items()}
            results[split.name] = _summarize(split, dataset, dropped, paths)
            log.info(
                "%s: %d queries, from %d of the %d passages asked about -> %s (dropped: %s)",
                split.name,
                len(dataset.queries),
                results[split.name].passages_with_queries,
                len(split.asked),
                paths["dataset"],
                _reason_counts(results[split.name].dropped) or "none",
            )
        summary = PrepareSummary(
            backend=backend.name,
            model=backend.model,
            train=results["train"],
            val=results["val"],
            failures_path=str(failures_path) if failures else None,
            seconds=round(time.perf_counter() - started, 3),
        )
        writers: dict[str, Callable[[Path], object]] = {summary_name: lambda path: write_json(path, summary.to_json())}
        for split in splits:
            dataset, dropped = built[split.name]
            writers[names[split.name]["dataset"]] = dataset.save
            writers[names[split.name]["dropped"]] = functools.partial(write_jsonl, records=dropped)
        _write_together(out, writers)
        if not failures:
            failures_path.unlink(missing_ok=True)  # a stale list from an earlier run would mislead
        return summary


def prepare_datasets(
    train_nodes: str | Path, val_nodes: str | Path, out_dir: str | Path, options: PrepareOptions | None = None
) -> PrepareSummary:
    """Write `<stem>_train_dataset.json` and `<stem>_val_dataset.json` into `out_dir`, with
    `<stem>_{train,val}_dropped.jsonl` (every candidate question dropped, and why) and
    `<stem>_prepare_summary.json`; see PrepareOptions."""
    return asyncio.run(prepare_async(train_nodes, val_nodes, out_dir, options))


def import_llama_index_dataset(source: str | Path, target: str | Path) -> QADataset:
    """Validate a dataset llama_index wrote (ASCII-escaped JSON) and save it as readable UTF-8."""
    dataset = QADataset.load(source)
    dataset.save(target)
    return dataset
