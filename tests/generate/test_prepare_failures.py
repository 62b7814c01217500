"""`prepare` when things go wrong: every request failing, empty replies, bad inputs on a rerun."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.openai_server import Fault, default_reply, openai_server
from helpers.prepare_inputs import EN_PASSAGES, ZH_PASSAGES, fast_options, write_node_files
from wmemb.errors import WMEmbError
from wmemb.generate import prepare_datasets


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize(
    ("fault", "overrides", "cause"),
    [
        (Fault.server_error(500), {}, "HTTP 500"),
        (Fault.slow(2.0), {"timeout": 0.3}, "no reply within the timeout"),
    ],
    ids=["http-500", "hang"],
)
def test_every_request_failing_names_the_cause_and_writes_the_failures_file(
    node_files, tmp_path, fault, overrides, cause
):
    train, val = node_files
    out = tmp_path / "out"
    with openai_server(reply=lambda prompt: fault) as server:
        with pytest.raises(WMEmbError, match=cause) as error:
            prepare_datasets(train, val, out, fast_options(server, max_retries=1, concurrency=9, **overrides))
    failures_path = out / "book_prepare_failures.jsonl"
    assert str(failures_path) in str(error.value)
    failures = read_lines(failures_path)
    assert sorted(f["split"] for f in failures) == ["train"] * 6 + ["val"] * 3
    assert all(cause in f["error"] for f in failures)
    assert not (out / "book_train_dataset.json").exists() and not (out / "book_prepare_summary.json").exists()


@pytest.mark.parametrize(
    ("fault", "cause"),
    [
        (Fault.no_choices(), "malformed reply (IndexError list index out of range: {'id': 'chatcmpl-test'"),
        (Fault.html(), "malformed reply (not JSON but text/html: '<!DOCTYPE html><html><body><h1>Welcome"),
        (Fault.malformed(), 'malformed reply (not JSON but application/json: \'{"choices": [{"message"'),
        ("", "empty reply"),
    ],
    ids=["empty-choices", "html", "truncated-json", "empty-text"],
)
def test_the_same_malformed_reply_every_time_stops_prepare_early(tmp_path, fault, cause):
    passages = [f"{text} ({index})" for index, text in enumerate((EN_PASSAGES + ZH_PASSAGES) * 3)][
        :22
    ]  # as the probe's
    train, val = write_node_files(tmp_path / "nodes", passages[:16], passages[16:])
    out = tmp_path / "out"
    with openai_server(reply=lambda prompt: fault) as server:
        with pytest.raises(WMEmbError) as error:
            prepare_datasets(train, val, out, fast_options(server, concurrency=2))
        asked = len(server.chat_requests())
    message = str(error.value)
    assert cause in message, message
    assert "for each of the first 3 passages and no usable reply yet, so prepare stopped" in message
    assert "check that --base-url is the server's OpenAI-compatible (.../v1) or Ollama address" in message
    assert asked < 20  # two passages' 6 attempts and the third's first, give or take one in flight; not 22 x 6
    assert not out.exists()  # a failed first run leaves no empty -o folder


def test_a_failed_rerun_keeps_the_output_folder_it_found(node_files, tmp_path):
    train, val = node_files
    out = tmp_path / "out"
    out.mkdir()
    with openai_server(reply=lambda prompt: Fault.html()) as server:
        with pytest.raises(WMEmbError, match="malformed reply"):
            prepare_datasets(train, val, out, fast_options(server))
    assert out.is_dir()


def test_replies_without_a_question_name_what_was_dropped(node_files, tmp_path):
    train, val = node_files
    with openai_server(reply=lambda prompt: "Sure! Here are two questions:") as server:
        with pytest.raises(WMEmbError, match="no usable questions.*preamble 6"):
            prepare_datasets(train, val, tmp_path / "out", fast_options(server))


@pytest.mark.parametrize("empty", ["", "   \n", "<think>only reasoning</think>"], ids=["empty", "blank", "think-only"])
def test_empty_replies_are_failures_retried_on_rerun(node_files, tmp_path, empty):
    train, val = node_files
    silent = {EN_PASSAGES[0], ZH_PASSAGES[0]}  # one English, one Chinese passage get empty replies

    def reply(prompt: str) -> str:
        return empty if any(text in prompt for text in silent) else default_reply(prompt)

    out = tmp_path / "out"
    with openai_server(reply=reply) as server:
        summary = prepare_datasets(train, val, out, fast_options(server, max_retries=1))
    assert summary.train.failed == 2 and summary.train.generated == 4 and summary.train.queries == 8
    assert all("empty reply" in f["error"] for f in read_lines(Path(summary.failures_path)))
    cached = read_lines(out / "book_train_replies.jsonl")
    assert len(cached) == 4 and all(record["reply"].strip() for record in cached)

    with openai_server() as server:  # rerun: only the two silent passages are asked again
        summary = prepare_datasets(train, val, out, fast_options(server))
        asked = [request.prompt for request in server.chat_requests()]
    assert len(asked) == 2 and all(any(text in prompt for text in silent) for prompt in asked)
    assert summary.train.failed == 0 and summary.train.queries == 12


def test_empty_replies_cached_by_an_earlier_version_are_asked_again(node_files, tmp_path):
    train, val = node_files
    out = tmp_path / "out"
    with openai_server() as server:
        prepare_datasets(train, val, out, fast_options(server))
    replies = out / "book_val_replies.jsonl"
    records = read_lines(replies)
    records[0]["reply"], records[1]["reply"] = "", None
    replies.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    with openai_server() as server:
        summary = prepare_datasets(train, val, out, fast_options(server))
        assert len(server.chat_requests()) == 2
    assert summary.val.reused == 1 and summary.val.generated == 2 and summary.val.queries == 6


@pytest.mark.parametrize("broken", ["empty-val", "bad-val-line", "missing-prompt-file"])
def test_a_failed_rerun_leaves_every_earlier_output_untouched(tmp_path, broken):
    train, val = write_node_files(tmp_path / "nodes", EN_PASSAGES[:3], ZH_PASSAGES[:2])
    out = tmp_path / "out"
    with openai_server() as server:
        prepare_datasets(train, val, out, fast_options(server))
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    # the user adds passages (so a new train dataset would differ), but breaks another input
    write_node_files(tmp_path / "nodes", EN_PASSAGES, ZH_PASSAGES[:2])
    overrides = {}
    if broken == "empty-val":
        val.write_text("", encoding="utf-8")
    elif broken == "bad-val-line":
        val.write_text(val.read_text(encoding="utf-8") + "{not json\n", encoding="utf-8")
    else:
        overrides["prompt_file"] = str(tmp_path / "missing-prompt.txt")
    with openai_server() as server:
        with pytest.raises(WMEmbError):
            prepare_datasets(train, val, out, fast_options(server, **overrides))
        assert server.chat_requests() == []  # found before any request was sent
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before


def test_a_split_without_questions_writes_no_dataset(tmp_path):
    """Train succeeds, val gets no usable question: neither dataset nor the summary is replaced."""
    train, val = write_node_files(tmp_path / "nodes", EN_PASSAGES[:3], ZH_PASSAGES[:1])
    out = tmp_path / "out"
    with openai_server() as server:
        prepare_datasets(train, val, out, fast_options(server))
    before = {path.name: path.read_bytes() for path in out.iterdir() if not path.name.endswith("_replies.jsonl")}
    write_node_files(tmp_path / "nodes", EN_PASSAGES[:4], ZH_PASSAGES[1:2])

    def reply(prompt: str) -> str:
        return "好的。" if ZH_PASSAGES[1] in prompt else default_reply(prompt)

    with openai_server(reply=reply) as server:
        with pytest.raises(WMEmbError, match="val.*no usable questions"):
            prepare_datasets(train, val, out, fast_options(server))
    after = {path.name: path.read_bytes() for path in out.iterdir() if not path.name.endswith("_replies.jsonl")}
    assert after == before
