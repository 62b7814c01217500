"""README.md cannot drift from the code: every `wmemb ...` line parses with the real command line,
every TOML example loads as a config, and the quick start runs end to end (tiny BERT, local LLM server)."""

import re
import shlex
import shutil
from pathlib import Path

import pytest
import tomllib
import typer

from helpers.openai_server import openai_server
from helpers.pipeline_inputs import distinct_questions, write_corpus
from wmemb.cli import app, main
from wmemb.settings import SETTINGS, PipelineConfig

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
FENCED = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def blocks(language: str) -> list[str]:
    return [body for lang, body in FENCED.findall(README) if lang == language]


def command_lines() -> list[list[str]]:
    """Each `wmemb ...` line of the README's bash blocks, as argv after `wmemb`."""
    lines = []
    for block in blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["wmemb"]:
                lines.append(words[1:])
    return lines


def synopses() -> list[str]:
    """The inline `wmemb ...` forms of the prose (placeholders such as INPUT... and [--seed 42])."""
    prose = FENCED.sub("", README)
    return [" ".join(span.split()) for span in re.findall(r"`(wmemb [^`]+)`", prose)]


def find_command(words: list[str]):
    """The click command a line names, and the words left for it."""
    command = typer.main.get_command(app)
    while getattr(command, "commands", None) and words and words[0] in command.commands:
        command, words = command.commands[words[0]], words[1:]
    return command, words


def test_the_readme_has_commands_configs_and_synopses():
    assert len(command_lines()) >= 15 and len(blocks("toml")) >= 1 and len(synopses()) >= 8


@pytest.mark.parametrize("words", command_lines(), ids=" ".join)
def test_every_readme_command_parses(words):
    command, rest = find_command(words)
    context = command.make_context(f"wmemb {' '.join(words[: len(words) - len(rest)])}", list(rest))
    if command.name in ("run", "expand-order"):  # the settings given must also be valid values
        given = {
            name: value
            for name, value in context.params.items()
            if name in SETTINGS and context.get_parameter_source(name).name == "COMMANDLINE"
        }
        PipelineConfig.from_values(given, {}, source=" ".join(words))


@pytest.mark.parametrize("synopsis", synopses())
def test_every_readme_synopsis_names_real_options(synopsis):
    command, rest = find_command(synopsis.split()[1:])
    assert command.name != "wmemb", f"{synopsis}: no such command"
    known = {"--help"} | {
        opt for param in command.params for opt in [*param.opts, *getattr(param, "secondary_opts", [])]
    }
    for option in re.findall(r"(?<![\w-])--?[a-zA-Z][\w-]*", " ".join(rest)):
        assert option in known, f"{synopsis}: {option} is not an option of `{command.name}`"


@pytest.mark.parametrize("index", range(len(blocks("toml"))))
def test_every_readme_config_is_valid(index):
    PipelineConfig.from_values(tomllib.loads(blocks("toml")[index]), {}, source=f"README TOML block {index + 1}")


@pytest.mark.parametrize("config", sorted((ROOT / "configs").glob("*.toml")), ids=lambda path: path.name)
def test_shipped_configs_load(config):
    PipelineConfig.load(config)


@pytest.mark.slow
def test_quick_start_runs_end_to_end(tmp_path, tiny_bert, monkeypatch):
    """The quick start's `wmemb run` lines, in order, as written: flags only, the README's config
    (a reviewed expand_terms_file), `--key=value` flags over it, and --from. Only the model folder
    is the test's, and each line is pointed at the local server with --base-url."""
    monkeypatch.chdir(tmp_path)
    write_corpus(tmp_path)
    (tmp_path / "data").mkdir()
    shutil.copy(tmp_path / "book.txt", tmp_path / "data" / "微生物学.txt")
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "bge-small-zh-v1.5").symlink_to(tiny_bert)
    reviewed = ["革兰氏阳性菌", "lipopolysaccharide"]
    rows = "".join(f"{term}\t7\t{len(term)}\t6\texample\n" for term in reviewed)
    (tmp_path / "terms.tsv").write_text("term\tfrequency\tpieces\ttokens_saved\texample\n" + rows, encoding="utf-8")
    (tmp_path / "my.toml").write_text(blocks("toml")[0], encoding="utf-8")
    quick_start = [words for words in command_lines() if words[:1] == ["run"]]
    assert any("--corpus" in words for words in quick_start) and any("=" in w for ws in quick_start for w in ws)

    with openai_server(reply=distinct_questions, model="qwen:14b") as server:
        for words in quick_start:
            argv = [w.replace("BAAI/bge-small-zh-v1.5", "weights/bge-small-zh-v1.5") for w in words]
            monkeypatch.setattr("sys.argv", ["wmemb", *argv, "--base-url", server.root_url])
            with pytest.raises(SystemExit) as stop:
                main()
            assert stop.value.code == 0, f"wmemb {' '.join(words)} failed"
    assert (tmp_path / "work" / "book" / "report" / "metrics.json").is_file()
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "work" / "microbiology" / "models" / "expanded")
    for term in reviewed:
        assert term in tokenizer.tokenize(f"细菌中{term}的壁, the {term} layer"), term
