"""`prepare` against a real local HTTP server (tests/helpers/openai_server.py) with injected faults."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

import wmemb.generate.prepare as prepare_module
from helpers.openai_server import Fault, default_reply, openai_server
from helpers.prepare_inputs import EN_PASSAGES, ZH_PASSAGES, fast_options, write_node_files
from wmemb.errors import WMEmbError
from wmemb.generate import PrepareOptions, prepare_datasets
from wmemb.generate.backends import Completion, RequestError, RetryableError
from wmemb.generate.prepare import backoff_delay, complete_with_retries
from wmemb.records import QADataset


def all_queries(out: Path, stem: str = "book") -> list[str]:
    return [
        q for split in ("train", "val") for q in QADataset.load(out / f"{stem}_{split}_dataset.json").queries.values()
    ]


def test_writes_llama_index_datasets_through_faults(node_files, tmp_path):
    train, val = node_files
    with openai_server() as server:
        server.faults.extend(
            [Fault.rate_limit(retry_after=None), Fault.server_error(503), Fault.malformed(), Fault.drop()]
        )
        summary = prepare_datasets(train, val, tmp_path / "out", fast_options(server, concurrency=3))
        chats = server.chat_requests()
    assert (summary.backend, summary.model) == ("openai", "test-model")
    assert len(chats) == 9 + 4  # every passage once, plus one retry per injected fault
    assert summary.train.failed == summary.val.failed == 0 and summary.failures_path is None
    assert summary.train.languages == {"en": 4, "zh": 2} and summary.val.languages == {"en": 2, "zh": 1}
    assert summary.train.queries == 12 and summary.val.queries == 6
    text = (tmp_path / "out" / "book_train_dataset.json").read_text(encoding="utf-8")
    assert "材料中关于" in text and "\\u" not in text  # Chinese stays readable
    train_set = QADataset.load(tmp_path / "out" / "book_train_dataset.json")
    assert set(train_set.corpus) == {json.loads(line)["id"] for line in train.read_text(encoding="utf-8").splitlines()}
    for qid, docs in train_set.relevant_docs.items():
        assert docs == [qid.rsplit("-q", 1)[0]]
        assert not train_set.queries[qid].startswith(("Here", "以下")), "preamble stored as a query"
    zh_prompts = [r.prompt for r in chats if "革兰氏" in r.prompt]
    assert zh_prompts and all("请根据上面的材料" in p for p in zh_prompts)  # Chinese passage, Chinese prompt
    summary_file = json.loads((tmp_path / "out" / "book_prepare_summary.json").read_text(encoding="utf-8"))
    assert summary_file["train"]["queries"] == 12


def test_backoff_doubles_with_jitter_up_to_its_cap_and_never_undercuts_retry_after():
    options = PrepareOptions(retry_base_delay=0.1, retry_max_delay=1.0)
    delays = [backoff_delay(attempt, None, options, random.Random(7)) for attempt in range(6)]
    jitter = random.Random(7).uniform(0.5, 1.0)  # the same seed: the same draw
    assert delays == pytest.approx([base * jitter for base in (0.1, 0.2, 0.4, 0.8, 1.0, 1.0)])
    rng = random.Random(3)
    for attempt, base in enumerate((0.1, 0.2, 0.4, 0.8, 1.0, 1.0)):
        assert base * 0.5 <= backoff_delay(attempt, None, options, rng) <= base  # jitter spreads retrying clients
    assert backoff_delay(0, 0.6, options, random.Random(7)) == 0.6  # Retry-After is longer than the backoff: it wins
    assert backoff_delay(4, 0.2, options, random.Random(7)) == pytest.approx(jitter)  # the backoff is longer


def test_retries_sleep_the_backoff_schedule_then_give_up():
    """The retry loop with a recorded sleep: each failed attempt waits backoff_delay's value, Retry-After included."""
    failures = [RetryableError("HTTP 429", retry_after=0.6), RetryableError("HTTP 503"), RetryableError("HTTP 503")]

    class Flaky:
        async def complete(self, prompt, json_mode=False, max_tokens=None, temperature=None):
            if failures:
                raise failures.pop(0)
            return Completion("What does apt install?")

    job = SimpleNamespace(prompt="p", max_tokens=None, node=SimpleNamespace(id="n1"))
    options = PrepareOptions(retry_base_delay=0.1, retry_max_delay=1.0, max_retries=5)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    completion = asyncio.run(complete_with_retries(Flaky(), job, options, random.Random(5), sleep=sleep))
    assert completion.text == "What does apt install?"
    rng = random.Random(5)
    assert slept == [backoff_delay(attempt, wait, options, rng) for attempt, wait in enumerate((0.6, None, None))]
    assert slept[0] == 0.6 and slept[1] < slept[2]  # the server's wait; then the backoff doubles

    failures[:] = [RetryableError("HTTP 500")] * 3
    slept.clear()
    with pytest.raises(RequestError, match=r"HTTP 500 \(gave up after 3 attempts\)"):
        asyncio.run(complete_with_retries(Flaky(), job, replace(options, max_retries=2), random.Random(5), sleep=sleep))
    assert len(slept) == 2


def test_retry_after_from_the_server_reaches_the_backoff(tmp_path, monkeypatch):
    """Over HTTP: a 429's Retry-After header and every 5xx are retried, each through backoff_delay (whose schedule the
    tests above check; here it returns 0 so the test does not wait)."""
    calls: list[tuple[int, float | None]] = []

    def recorded_backoff(attempt, retry_after, options, rng):
        calls.append((attempt, retry_after))
        return 0.0

    monkeypatch.setattr(prepare_module, "backoff_delay", recorded_backoff)
    train, val = write_node_files(tmp_path / "nodes", EN_PASSAGES[:1], EN_PASSAGES[1:2])
    with openai_server() as server:
        server.faults.extend(
            [Fault.rate_limit(retry_after=0.6), Fault.server_error(), Fault.server_error(), Fault.server_error()]
        )
        summary = prepare_datasets(train, val, tmp_path / "out", fast_options(server, concurrency=1, max_retries=5))
        assert len(server.chat_requests()) == 6  # train: 5 attempts; val: 1
    assert calls == [(0, 0.6), (1, None), (2, None), (3, None)]
    assert summary.train.failed == 0 and summary.train.queries == 2


def test_timeout_is_retried(tmp_path):
    train, val = write_node_files(tmp_path / "nodes", EN_PASSAGES[:1], EN_PASSAGES[1:2])
    with openai_server() as server:
        server.faults.append(Fault.slow(3.0))
        summary = prepare_datasets(train, val, tmp_path / "out", fast_options(server, timeout=0.5, concurrency=1))
        # the slow reply would have answered the first request: a third request means the timeout cut it and retried
        assert len(server.chat_requests()) == 3
        assert [r.fault.kind if r.fault else None for r in server.chat_requests()] == ["slow", None, None]
    assert summary.train.failed == 0 and summary.train.queries == 2


def test_failed_passage_is_recorded_and_retried_on_rerun(node_files, tmp_path):
    train, val = node_files
    poisoned = EN_PASSAGES[1]

    def reply(prompt: str):
        return Fault.server_error() if poisoned in prompt else default_reply(prompt)

    out = tmp_path / "out"
    with openai_server(reply=reply) as server:
        summary = prepare_datasets(train, val, out, fast_options(server, max_retries=2))
        assert len([r for r in server.chat_requests() if poisoned in r.prompt]) == 3  # 1 try + 2 retries
    assert summary.train.failed == 1 and summary.train.generated == 5 and summary.train.queries == 10
    failures = [json.loads(line) for line in Path(summary.failures_path).read_text(encoding="utf-8").splitlines()]
    assert len(failures) == 1 and failures[0]["split"] == "train" and "HTTP 500" in failures[0]["error"]

    with openai_server() as server:  # the server recovered: the rerun asks only for the failed passage
        summary = prepare_datasets(train, val, out, fast_options(server))
        assert [poisoned in r.prompt for r in server.chat_requests()] == [True]
    assert summary.train.reused == 5 and summary.train.generated == 1 and summary.train.queries == 12
    assert summary.failures_path is None and not (out / "book_prepare_failures.jsonl").exists()


def test_resume_after_kill_9_redoes_only_missing_passages(tmp_path, caplog):
    texts = [f"Passage number {i} explains topic {i} of the Debian system in a few words." for i in range(12)]
    train, val = write_node_files(tmp_path / "nodes", texts, EN_PASSAGES[:2])
    out = tmp_path / "out"
    replies = out / "book_train_replies.jsonl"
    with openai_server(delay=0.25) as server:
        command = [
            sys.executable,
            "-m",
            "wmemb.cli",
            "prepare",
            str(train),
            str(val),
            "-o",
            str(out),
            "--llm",
            "openai",
            "--base-url",
            server.base_url,
            "--concurrency",
            "2",
        ]
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "HF_HUB_OFFLINE": "1"}
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (
            not replies.exists() or replies.read_text(encoding="utf-8").count("\n") < 4
        ):
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait()
    done_before = replies.read_text(encoding="utf-8").count("\n")
    val_replies = out / "book_val_replies.jsonl"  # both splits share one queue: val may have started
    val_done = val_replies.read_text(encoding="utf-8").count("\n") if val_replies.exists() else 0
    assert 4 <= done_before < 12 and not (out / "book_train_dataset.json").exists()
    torn = '{"key": "abc", "reply": "What is'
    with replies.open("a", encoding="utf-8") as handle:  # a write torn by the kill
        handle.write(torn)

    with openai_server() as server, caplog.at_level(logging.INFO, logger="wmemb.generate"):
        summary = prepare_datasets(train, val, out, fast_options(server))
        asked = [r.prompt for r in server.chat_requests()]
    assert f"{replies}: dropping a partial last line ({len(torn)} bytes) left by an interrupted run" in caplog.messages
    assert f"{replies}: {done_before} cached replies" in caplog.messages
    assert summary.train.reused == done_before and summary.train.generated == 12 - done_before
    assert summary.val.reused == val_done and len(asked) == 12 - done_before + 2 - val_done
    queries = all_queries(out)
    assert len(queries) == len(set(queries)) == 2 * 14  # every passage answered, no query twice
    lines = replies.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 12 and all(json.loads(line) for line in lines)


def test_train_and_val_never_share_a_cache_entry(tmp_path):
    same = EN_PASSAGES[0]
    train, val = write_node_files(tmp_path / "nodes", [same, EN_PASSAGES[1]], [same])
    with openai_server() as server:
        prepare_datasets(train, val, tmp_path / "out", fast_options(server))
        assert len([r for r in server.chat_requests() if same in r.prompt]) == 2
    assert (tmp_path / "out" / "book_train_replies.jsonl").exists() and (
        tmp_path / "out" / "book_val_replies.jsonl"
    ).exists()


def test_several_base_urls_share_the_load(tmp_path):
    texts = [f"Topic {i}: the package manager resolves dependencies of package {i} automatically." for i in range(16)]
    train, val = write_node_files(tmp_path / "nodes", texts, EN_PASSAGES[:1])
    with openai_server(delay=0.1) as first, openai_server(delay=0.1) as second:
        prepare_datasets(
            train,
            val,
            tmp_path / "out",
            fast_options(first, base_urls=[first.base_url, second.base_url], concurrency=4),
        )
        counts = len(first.chat_requests()), len(second.chat_requests())
    assert sum(counts) == 17 and min(counts) >= 6, counts


def test_a_server_that_is_down_does_not_draw_the_retries(tmp_path):
    """A server failing at once has the fewest requests in flight; resting after its failure, it does not take
    every retry (each passage would fail after max_retries while the other server answers)."""
    texts = [f"Topic {i}: the package manager resolves dependencies of package {i} automatically." for i in range(16)]
    train, val = write_node_files(tmp_path / "nodes", texts, EN_PASSAGES[:1])
    with openai_server(reply=lambda prompt: Fault.server_error(503)) as down, openai_server(delay=0.05) as up:
        summary = prepare_datasets(
            train, val, tmp_path / "out", fast_options(down, base_urls=[down.base_url, up.base_url], max_retries=2)
        )
        asked_down, asked_up = len(down.chat_requests()), len(up.chat_requests())
    assert summary.train.failed == summary.val.failed == 0 and summary.train.queries == 32
    assert asked_up == 17 and asked_down <= 8, (asked_down, asked_up)  # the first requests in flight at most


def test_json_mode_request_and_reply(tmp_path):
    train, val = write_node_files(tmp_path / "nodes", ZH_PASSAGES[:1], EN_PASSAGES[:1])

    def reply(prompt: str) -> str:
        if "革兰氏" in prompt:
            return '{"questions": ["革兰氏阳性菌的细胞壁由什么构成？", "革兰氏染色后阳性菌呈什么颜色？"]}'
        return '```json\n{"questions": ["What does apt install?", "Where are repositories listed?"]}\n```'

    with openai_server(reply=reply) as server:
        prepare_datasets(train, val, tmp_path / "out", fast_options(server, json_mode=True))
        bodies = [r.body for r in server.chat_requests()]
    assert all(body["response_format"] == {"type": "json_object"} for body in bodies)
    assert all("JSON" in body["messages"][0]["content"] for body in bodies)
    assert sorted(all_queries(tmp_path / "out")) == sorted(
        [
            "革兰氏阳性菌的细胞壁由什么构成？",
            "革兰氏染色后阳性菌呈什么颜色？",
            "What does apt install?",
            "Where are repositories listed?",
        ]
    )


def test_ollama_backend(node_files, tmp_path):
    train, val = node_files
    with openai_server(model="qwen:14b") as server:
        summary = prepare_datasets(
            train, val, tmp_path / "out", PrepareOptions(llm="ollama", base_urls=[server.root_url])
        )
        assert {r.path for r in server.chat_requests()} == {"/api/chat"}
        with pytest.raises(WMEmbError, match="ollama pull qwen3"):
            prepare_datasets(
                train, val, tmp_path / "out2", PrepareOptions(llm="ollama", base_urls=[server.root_url], model="qwen3")
            )
    assert summary.backend == "ollama" and summary.model == "qwen:14b" and summary.train.queries == 12


def test_ollama_reasoning_model_think_blocks_are_removed(tmp_path):
    train, val = write_node_files(tmp_path / "nodes", ZH_PASSAGES[:1], ZH_PASSAGES[1:2])

    def reply(prompt: str) -> str:
        return "<think>\n用户要两个问题。问题1：这是草稿？\n</think>\n\n问题1：" + (
            "革兰氏阳性菌呈什么颜色？" if "革兰氏" in prompt else "芽孢有什么特点？"
        )

    with openai_server(reply=reply, model="qwen3") as server:
        prepare_datasets(
            train, val, tmp_path / "out", PrepareOptions(llm="ollama", base_urls=[server.root_url], model="qwen3")
        )
    assert sorted(all_queries(tmp_path / "out")) == ["芽孢有什么特点？", "革兰氏阳性菌呈什么颜色？"]


def test_clear_errors(node_files, tmp_path):
    train, val = node_files
    with pytest.raises(WMEmbError, match="does not answer.*--llm local"):
        prepare_datasets(train, val, tmp_path / "out", PrepareOptions(llm="openai", base_urls=["http://127.0.0.1:9"]))
    with openai_server() as server:
        with pytest.raises(WMEmbError, match="404.*not found.*--model"):
            prepare_datasets(train, val, tmp_path / "out", fast_options(server, model="no-such-model"))
        with pytest.raises(WMEmbError, match="auto, openai, ollama, local"):
            prepare_datasets(train, val, tmp_path / "out", fast_options(server, llm="gpt"))
    with pytest.raises(WMEmbError, match="missing.txt: node file not found"):
        prepare_datasets(tmp_path / "missing.txt", val, tmp_path / "out", PrepareOptions())


def test_cli_prepare_and_import(node_files, tmp_path):
    from typer.testing import CliRunner

    from wmemb.cli import app

    train, val = node_files
    with openai_server() as server:
        result = CliRunner().invoke(
            app,
            [
                "prepare",
                str(train),
                str(val),
                "-o",
                str(tmp_path / "out"),
                "--llm",
                "openai",
                "--base-url",
                server.base_url,
                "--questions-per-chunk",
                "1",
            ],
        )
    assert result.exit_code == 0, result.output
    assert len(QADataset.load(tmp_path / "out" / "book_train_dataset.json").queries) == 6


def test_consistency_filter_drops_queries_about_another_passage(tmp_path, minilm):
    train, val = write_node_files(tmp_path / "nodes", EN_PASSAGES[:5], EN_PASSAGES[5:])
    misattributed = "Which key combination switches between virtual consoles?"  # about EN_PASSAGES[5], asked of [0]

    def reply(prompt: str) -> str:
        if EN_PASSAGES[0] in prompt:
            return f"1. What does apt install from the repositories?\n2. {misattributed}"
        return default_reply(prompt)

    with openai_server(reply=reply) as server:
        summary = prepare_datasets(
            train, val, tmp_path / "out", fast_options(server, filter_topk=1, embed_model=str(minilm))
        )
    queries = all_queries(tmp_path / "out")
    assert misattributed not in queries and "What does apt install from the repositories?" in queries
    assert (
        summary.train.dropped["inconsistent"] >= 1
        and summary.train.queries == 10 - summary.train.dropped["inconsistent"]
    )


def test_facade_prepare(node_files, tmp_path):
    from wmemb import WMEmbModel

    train, val = node_files
    with openai_server() as server:
        summary = WMEmbModel().prepare(
            train, val, tmp_path / "out", llm="openai", base_urls=[server.base_url], concurrency=2
        )
        with pytest.raises(WMEmbError, match="unexpected keyword argument 'colour'"):
            WMEmbModel().prepare(train, val, tmp_path / "out", colour="blue")
    assert summary.train.queries == 12 and (tmp_path / "out" / "book_val_dataset.json").is_file()


def test_both_splits_share_one_queue(tmp_path):
    """Val passages do not wait for the train split: with 4 in flight, all 4 requests (2 train,
    2 val) are sent before the first reply arrives, and each reply lands in its own split."""
    train, val = write_node_files(tmp_path / "nodes", EN_PASSAGES[:2], ZH_PASSAGES[:2])
    with openai_server(delay=0.4) as server:
        summary = prepare_datasets(train, val, tmp_path / "out", fast_options(server, concurrency=4))
        times = [request.time for request in server.chat_requests()]
    assert len(times) == 4 and max(times) - min(times) < 0.3, times
    assert summary.train.languages == {"en": 2} and summary.val.languages == {"zh": 2}
    assert summary.train.queries == summary.val.queries == 4
    val_cache = (tmp_path / "out" / "book_val_replies.jsonl").read_text(encoding="utf-8")
    assert val_cache.count("\n") == 2 and '"split": "val"' in val_cache and "革兰氏" in val_cache
