"""`wmemb run` on bad input: one line naming the file or setting, exit 2, no traceback, nothing written;
one run per working folder; Ctrl-C says what was kept and the next run resumes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers.openai_server import openai_server
from helpers.pipeline_inputs import distinct_questions, write_corpus
from wmemb.cli import main

SRC = Path(__file__).parents[1] / "src"


@pytest.fixture
def wmemb(monkeypatch, capsys):
    """Run the real `wmemb` entry point in this process; returns (exit status, everything printed)."""

    def run(*args) -> tuple[int, str]:
        monkeypatch.setattr(sys, "argv", ["wmemb", *map(str, args)])
        with pytest.raises(SystemExit) as stop:
            main()
        captured = capsys.readouterr()
        return stop.value.code, captured.out + captured.err

    return run


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def assert_one_line_error(status: int, output: str, *fragments: str) -> None:
    assert status == 2, output
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    for fragment in fragments:
        assert fragment in lines[0], output


FLAGS = ["--corpus", "book.txt", "--workdir", "work"]


@pytest.mark.parametrize(
    ("files", "args", "fragments"),
    [
        (
            {"run.toml": b"\x00\xff\xfe\x00\x89PNG"},
            ["run.toml"],
            ["run.toml: not UTF-8 text", "save the config as UTF-8"],
        ),
        ({"run.toml": 'corpus = ["微生物学.txt"]\n'.encode("gbk")}, ["run.toml"], ["run.toml: not UTF-8 text"]),
        ({"run.toml/": b""}, ["run.toml"], ["run.toml: is a folder"]),
        (
            {"run.toml": b'corpus = ["book.txt"]\nepoch = 3\n'},
            ["run.toml"],
            ["run.toml: unknown setting(s) epoch (epoch: did you mean epochs?)"],
        ),
        ({"run.toml": b'corpus = ["book.txt"]\nepochs = true\n'}, ["run.toml"], ["run.toml: epochs = true: input"]),
        ({"run.toml": b'corpus = ["book.txt"]\nepochs = 1.9\n'}, ["run.toml"], ["epochs = 1.9: input should be"]),
        ({"run.toml": b'corpus = ["book.txt"]\nks = [1.5, 3]\n'}, ["run.toml"], ["ks = [1.5, 3]: input should be"]),
        ({"run.toml": b'corpus = ["book.txt"]\nepochs = 0\n'}, ["run.toml"], ["run.toml: epochs = 0"]),
        (
            {"run.toml": b'corpus = ["book.txt"]\nloss = "bogus"\n'},
            ["run.toml"],
            ['loss = "bogus"', "'mnrl' or 'cached'"],
        ),
        (
            {"run.toml": b'corpus = ["book.txt"]\noverlap = 200\n'},
            ["run.toml"],
            ["--overlap 200: must be less than half of --chunk-tokens (128)"],
        ),
        (
            {"run.toml": b'corpus = ["book.txt"]\nworkdir = "wo\\u0000rk"\n'},
            ["run.toml"],
            ['run.toml: workdir = "', 'wo\\u0000rk": contains the control character U+0000; remove it'],
        ),
        (
            {"run.toml": b'corpus = ["book.txt"]\nname = "a\\u0000b"\n'},
            ["run.toml"],
            ['run.toml: name = "a\\u0000b": contains the control character U+0000'],
        ),
        (
            {"run.toml": b'corpus = ["book.txt"]\nmodel = "mini\\u0000lm"\n'},
            ["run.toml"],
            ['run.toml: model = "mini\\u0000lm": contains the control character U+0000'],
        ),
        (
            {"run.toml": b'corpus = ["bo\\u0000ok.txt"]\n'},
            ["run.toml"],
            ["run.toml: corpus = [", 'bo\\u0000ok.txt"]: contains the control character U+0000'],
        ),
        (
            {},
            [*FLAGS, "--workdir", "wo\x1brk"],
            ['--workdir: workdir = "wo\\u001brk": contains the control character U+001B'],
        ),
        ({}, [*FLAGS, "--ks", "0"], ["--ks: ks = [0]: input should be greater than or equal to 1"]),
        ({}, ["--corpus", "missing.txt"], ["error: --corpus: corpus missing.txt: no such file or folder"]),
        ({}, [*FLAGS, "--name", "a/b"], ['--name: name = "a/b": must be a plain file name']),
        ({}, [*FLAGS, "--name", "../x"], ['name = "../x": must be a plain file name']),
        ({}, [*FLAGS, "--expand-terms", "   "], ["empty or whitespace-only term"]),
        ({}, [*FLAGS, "--from", "mine"], ["--from mine: the mine stage is off", "--mine"]),
        ({}, [*FLAGS, "--no-expand", "--from", "expand"], ["--from expand: the expand stage is off", "--expand"]),
        ({"work": b"a file"}, FLAGS, ["workdir work: is a file"]),
        ({"work/models/final/": b""}, FLAGS, ["work/models/final: not the link a run makes", "move it away"]),
        ({"work/models/final": b"x"}, FLAGS, ["work/models/final: not the link a run makes", "move it away"]),
        ({"work/state.json": b"[]"}, FLAGS, ["work/state.json: not a wmemb state file", "delete it"]),
        ({"work/state.json": b'{"split": 3}'}, FLAGS, ["work/state.json: not a wmemb state file (split:"]),
        ({"work/state.json": b'{"split": {"key": 5}}'}, FLAGS, ["not a wmemb state file (split.key:"]),
        ({"work/state.json": b'{"split": {"key": "k", "outputs": [1]}}'}, FLAGS, ["(split.outputs:"]),
    ],
)
def test_bad_run_input_is_one_line_and_writes_nothing(tmp_path, monkeypatch, wmemb, files, args, fragments):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "book.txt").write_text("Spores survive heat and drying. 芽孢能耐高温和干燥。\n", encoding="utf-8")
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir() if name.endswith("/") else path.write_bytes(content)
    before = snapshot(tmp_path)
    assert_one_line_error(*wmemb("run", *args), *fragments)
    assert snapshot(tmp_path) == before


def test_a_bad_flag_value_is_a_usage_error(tmp_path, monkeypatch, wmemb):
    monkeypatch.chdir(tmp_path)
    status, output = wmemb("run", "--corpus", "book.txt", "--epochs", "1.9")
    assert status == 2 and "Invalid value for '--epochs'" in output and "Traceback" not in output
    assert list(tmp_path.iterdir()) == []


HOLD_LOCK = """
import sys
from wmemb.pipeline import Pipeline
from wmemb.settings import PipelineConfig

with Pipeline(PipelineConfig(workdir=sys.argv[1])).lock():
    print("locked", flush=True)
    sys.stdin.read()
"""


def subprocess_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}


def test_a_second_run_on_a_working_folder_in_use_names_the_holder(tmp_path, monkeypatch, wmemb):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "book.txt").write_text("Spores survive heat and drying.\n", encoding="utf-8")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, "work"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = snapshot(tmp_path)
        status, output = wmemb("run", "--corpus", "book.txt", "--workdir", "work")
        assert_one_line_error(status, output, "workdir work: in use by another wmemb run", f"(PID {holder.pid})")
        assert snapshot(tmp_path) == before
    finally:
        holder.communicate("", timeout=60)


# A shell starts background jobs with SIGINT ignored, and Python then leaves it ignored: restore what
# an interactive terminal gives the real entry point.
WMEMB_WITH_CTRL_C = """
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
from wmemb.cli import main
sys.argv[0] = "wmemb"
main()
"""


@pytest.mark.slow
def test_ctrl_c_says_what_was_kept_and_the_rerun_resumes(tmp_path, tiny_bert, wmemb):
    write_corpus(tmp_path)
    work = tmp_path / "work"
    args = ["run", "--corpus", tmp_path / "book.txt", "--model", tiny_bert, "--workdir", work, "--name", "book"]
    args += ["--chunk-tokens", "64", "--epochs", "1", "--batch-size", "8", "--concurrency", "1"]
    with openai_server(reply=distinct_questions, delay=0.5) as server:
        args += ["--llm", "openai", "--base-url", server.base_url, "--llm-model", "test-model"]
        run = subprocess.Popen(
            [sys.executable, "-c", WMEMB_WITH_CTRL_C, *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**subprocess_env(), "COLUMNS": "200"},
        )
        deadline = time.monotonic() + 300
        while len(server.chat_requests()) < 3 and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert run.poll() is None, "the run ended before it could be interrupted"
        run.send_signal(signal.SIGINT)
        _, stderr = run.communicate(timeout=120)
        assert run.returncode == 130, stderr
        assert "Traceback" not in stderr
        message = " ".join(stderr.split())
        assert f"interrupted during prepare; kept in {work}: split (finished)" in message, stderr
        assert "prepare keeps the LLM replies received so far; run the same command again to resume" in message
        state = json.loads((work / "state.json").read_text(encoding="utf-8"))
        assert "outputs" in state["split"] and "outputs" not in state["prepare"]

        asked_before = len(server.chat_requests())
        server.delay = 0
        status, output = wmemb(*args)
        assert status == 0, output
        state = json.loads((work / "state.json").read_text(encoding="utf-8"))
        prepared = state["prepare"]["summary"]
        passages = prepared["train"]["passages"] + prepared["val"]["passages"]
        reused = prepared["train"]["reused"] + prepared["val"]["reused"]
        assert reused >= 2 and len(server.chat_requests()) - asked_before == passages - reused
