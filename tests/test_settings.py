"""The settings declaration: strict types, one flag per setting, and what a changed setting reruns."""

import dataclasses
import functools
import json
import re
import shutil
import typing
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from helpers.openai_server import openai_server
from helpers.pipeline_inputs import config_for, distinct_questions, write_corpus
from wmemb.cli import app, stage_flags
from wmemb.corpus import SplitOptions
from wmemb.errors import WMEmbError
from wmemb.generate import PrepareOptions
from wmemb.pipeline import Pipeline, stage_options
from wmemb.settings import SETTINGS, STAGES, PipelineConfig, Setting, settings_table, shared, shared_fields
from wmemb.train import FinetuneOptions, MineOptions
from wmemb.vocab import SuggestOptions

README = Path(__file__).parents[1] / "README.md"


def write_config(folder: Path, text: str) -> Path:
    (folder / "book.txt").write_text("Spores survive heat. 芽孢能耐高温。\n", encoding="utf-8")
    path = folder / "run.toml"
    path.write_text('corpus = ["book.txt"]\n' + text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("epochs = true", "epochs = true: input should be a valid integer"),
        ("epochs = 1.9", "epochs = 1.9: input should be a valid integer"),
        ("ks = [1.5, 3]", "ks = [1.5, 3]: input should be a valid integer (item 1)"),
        ("epochs = 0", "epochs = 0: input should be greater than or equal to 1"),
        ('loss = "bogus"', "loss = \"bogus\": input should be 'mnrl' or 'cached'"),
        ('llm = "gpt"', "llm = \"gpt\": input should be 'auto', 'openai', 'ollama' or 'local'"),
        ("val_ratio = 1", "val_ratio = 1: input should be less than 1"),
        ("ks = []", "ks = []: list should have at least 1 item"),
        ('name = "../x"', 'name = "../x": must be a plain file name'),
        ('chunk_tokens = "64"', 'chunk_tokens = "64": input should be a valid integer'),
        ('expand_terms_file = "terms.tsv"', "expand_terms_file {dir}/terms.tsv: no such file or folder"),
    ],
)
def test_config_values_are_strictly_typed_and_checked(tmp_path, line, message):
    config = write_config(tmp_path, line + "\n")
    with pytest.raises(WMEmbError, match="^" + re.escape(f"{config}: {message.format(dir=tmp_path)}")):
        PipelineConfig.load(config)


def test_a_list_setting_takes_one_value_as_is(tmp_path):
    (tmp_path / "my,book.txt").write_text("Spores survive heat.\n", encoding="utf-8")
    config = tmp_path / "run.toml"
    config.write_text('corpus = "my,book.txt"\nks = 5\n', encoding="utf-8")
    loaded = PipelineConfig.load(config)
    assert loaded.corpus == [str(tmp_path / "my,book.txt")] and loaded.ks == [5]


def test_every_setting_is_a_typed_flag_with_help_and_default():
    result = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    lines = {line.split()[1]: line for line in result.output.splitlines() if line.startswith("│ --")}
    for spec in SETTINGS.values():
        line = lines[spec.flag]
        assert spec.help[:40] in line, spec.name
        if spec.type is bool:
            assert (
                f"--no-{spec.flag[2:]}" in line and f"[default: {'' if spec.default else 'no-'}{spec.flag[2:]}]" in line
            )
        elif spec.default not in (None, []):
            shown = ", ".join(map(str, spec.default)) if spec.is_list else str(spec.default)
            assert f"[default: {shown}]" in line, spec.name
        base = typing.get_args(spec.type)[0] if spec.is_list else spec.type
        if typing.get_origin(base) is typing.Literal:
            assert "|".join(typing.get_args(base)) in line


def test_readme_settings_table_is_the_declared_one():
    assert settings_table() in README.read_text(encoding="utf-8"), (
        "README.md's settings table differs from src/wmemb/settings.py: run `python -m wmemb.settings README.md`"
    )


# --- what a changed setting reruns -------------------------------------------------------------------


def changed_value(spec: Setting, current, tmp_path: Path):
    """A different valid value for any setting, chosen by its declared type and kind."""
    if spec.kind == "file":
        new = tmp_path / f"other-{spec.name}.txt"
        new.write_text("革兰氏阳性菌\nlipopolysaccharide\n", encoding="utf-8")
        return [*current, str(new)] if spec.is_list else str(new)
    if spec.kind == "model":
        copy = tmp_path / "model-copy"
        shutil.copytree(current, copy)
        return str(copy)
    if spec.kind == "folder":
        return str(tmp_path / "elsewhere")
    kind = spec.type
    if typing.get_origin(kind) is typing.Literal:
        return next(choice for choice in typing.get_args(kind) if choice != current)
    if spec.is_list and spec.choices:
        return [*current, next(choice for choice in spec.choices if choice not in current)]
    if spec.is_list:
        item = typing.get_args(kind)[0]
        return [*current, max(current, default=0) + 1 if item is int else "extra"]
    if kind is bool:
        return not current
    if current is None:  # optional: a value every rule of this declaration admits
        base = next(arg for arg in typing.get_args(kind) if arg is not type(None))
        least = max([0, *(getattr(rule, "ge", getattr(rule, "gt", 0)) for rule in spec.rules)])
        return {int: least + 3, float: 0.5, str: "other"}[base]
    if kind is float:
        return current / 2
    return current + 1 if kind is int else current + "x"


@pytest.fixture
def every_stage_on(tmp_path, tiny_bert) -> PipelineConfig:
    (tmp_path / "book.txt").write_text("Spores survive heat. 芽孢能耐高温。\n", encoding="utf-8")
    (tmp_path / "terms.txt").write_text("芽孢\n", encoding="utf-8")
    return PipelineConfig.load(
        None,
        {
            "corpus": [str(tmp_path / "book.txt")],
            "model": str(tiny_bert),
            "workdir": str(tmp_path / "work"),
            "mine": True,
            "expand": True,
            "expand_terms_file": str(tmp_path / "terms.txt"),
            "control": True,
        },
    )


@pytest.mark.parametrize("name", list(SETTINGS))
def test_a_changed_setting_reruns_its_stage_and_later_ones_never_earlier(name, every_stage_on, tmp_path):
    spec = SETTINGS[name]
    before = Pipeline(every_stage_on).stage_keys()
    config = dataclasses.replace(every_stage_on, **{name: changed_value(spec, getattr(every_stage_on, name), tmp_path)})
    after = Pipeline(config).stage_keys()
    own = STAGES.index(spec.stage)
    for stage in set(before) & set(after):
        rerun = spec.hashed and STAGES.index(stage) >= own
        assert (before[stage] != after[stage]) == rerun, f"{name} changed: {stage} {'not ' if rerun else ''}rerun"
    assert set(before) ^ set(after) <= {spec.stage}  # only a stage's own switch turns it on or off


def test_only_settings_that_cannot_change_a_result_are_unhashed():
    assert {spec.name for spec in SETTINGS.values() if not spec.hashed} == {
        "workdir",  # state.json lives in it: another folder is another run
        "api_key_env",
        "concurrency",
        "gradient_checkpointing",  # recomputes the same activations (RNG state preserved)
    }


@pytest.mark.slow
def test_a_run_records_those_keys_and_stages_read_no_later_declared_setting(tmp_path, tiny_bert, monkeypatch):
    """End to end with every stage on: a stage that read a setting declared for a later stage would
    not rerun when that setting changes."""
    read: set[tuple[str, str]] = set()
    running: list[str] = []

    def recording_getattribute(config, name):
        if running and name in SETTINGS:
            read.add((running[-1], name))
        return object.__getattribute__(config, name)

    def recording_stages(pipeline):
        stages = original_stages(pipeline)
        for stage in stages:
            stage.run = functools.partial(run_recorded, stage.name, stage.run)
        return stages

    def run_recorded(name, run, resume):
        running.append(name)
        try:
            return run(resume)
        finally:
            running.pop()

    original_stages = Pipeline.stages
    monkeypatch.setattr(Pipeline, "stages", recording_stages)
    monkeypatch.setattr(PipelineConfig, "__getattribute__", recording_getattribute)
    write_corpus(tmp_path)
    with openai_server(reply=distinct_questions) as server:
        settings = dict(mine=True, expand=True, expand_terms=["革兰氏阳性菌"], expand_epochs=1, control=True)
        pipeline = Pipeline(config_for(tmp_path, tiny_bert, server, **settings))
        assert [record.action for record in pipeline.run()] == ["ran"] * 7
        state = json.loads(pipeline.state_path.read_text(encoding="utf-8"))
        assert pipeline.stage_keys() == {stage: record["key"] for stage, record in state.items()}
        late = sorted((stage, name) for stage, name in read if STAGES.index(SETTINGS[name].stage) > STAGES.index(stage))
        assert not late, f"(stage, setting) pairs where the setting is declared for a later stage: {late}"
        assert {"chunk_tokens", "llm_model", "epochs", "expand_epochs", "ks"} <= {name for _, name in read}

        records = Pipeline(config_for(tmp_path, tiny_bert, server, **settings, ks=[1, 2])).run()
    assert [(r.stage, r.action) for r in records] == [
        ("split", "skipped"),
        ("prepare", "skipped"),
        ("mine", "skipped"),
        ("finetune", "skipped"),
        ("expand", "skipped"),
        ("control", "skipped"),
        ("evaluate", "ran"),
    ]


# --- a stage command takes its settings from their declaration -------------------------------------------

# Each stage's options class: the stage commands (`wmemb finetune --epochs 0`) build these without a PipelineConfig.
STAGE_OPTIONS = [SplitOptions, PrepareOptions, MineOptions, FinetuneOptions, SuggestOptions]
# stage command -> its options class
STAGE_COMMANDS = {
    ("split",): SplitOptions,
    ("prepare",): PrepareOptions,
    ("mine",): MineOptions,
    ("finetune",): FinetuneOptions,
    ("vocab", "suggest"): SuggestOptions,
}
# Fields whose default is not their setting's, on purpose (declared so with shared(..., default=)).
OWN_DEFAULTS = {(SuggestOptions, "top"): 200}  # candidates written for review; suggest_top adds 30 unreviewed


def ruled_fields() -> list:
    """(options class, field, how it takes its setting) for every field that takes a setting with a range or
    choices."""
    return [
        pytest.param(cls, name, taken, id=f"{cls.__name__}.{name}")
        for cls in STAGE_OPTIONS
        for name, taken in shared_fields(cls).items()
        if (taken.setting.range or taken.setting.choices)
        and not taken.setting.is_list  # a list's items are checked by its stage (matryoshka_dims: tests/train)
    ]


def outside_and_on_bounds(spec: Setting) -> tuple[list, list]:
    """Values just outside each of a setting's bounds or not among its choices, and values on its inclusive bounds
    or among its choices."""
    if spec.choices and spec.is_list:  # each item is one of the choices
        return [["bogus"]], [[choice] for choice in spec.choices]
    if spec.choices:
        return ["bogus"], list(spec.choices)
    number = next(arg for arg in (*typing.get_args(spec.type), spec.type) if arg in (int, float))
    outside, on = [], []
    for rule in spec.rules:
        for name, step in (("ge", -1), ("gt", 0), ("le", 1), ("lt", 0)):
            if hasattr(rule, name):
                limit = number(getattr(rule, name))
                outside.append(limit + number(step))
                on += [limit] if step else []
    return outside, on


def test_the_checked_fields_include_those_named_otherwise_than_their_setting():
    checked = {param.id for param in ruled_fields()}
    assert {
        "FinetuneOptions.epochs",
        "FinetuneOptions.lr",
        "FinetuneOptions.loss",
        "SplitOptions.val_ratio",
        "PrepareOptions.llm",
        "SuggestOptions.top",  # the setting suggest_top
    } <= checked


@pytest.mark.parametrize(("cls", "name", "taken"), ruled_fields())
def test_a_stage_command_enforces_the_range_and_choices_its_setting_declares(cls, name, taken):
    spec = taken.setting
    outside, on = outside_and_on_bounds(spec)
    for value in outside:
        with pytest.raises(WMEmbError, match="^" + re.escape(f"{taken.flag} {value!r}: must be ")):
            cls(**{name: value}).check()
    for value in on:
        cls(**{name: value}).check()


@pytest.mark.parametrize("cls", STAGE_OPTIONS, ids=lambda cls: cls.__name__)
def test_a_field_that_takes_a_setting_has_its_type_and_default(cls):
    """A field's type is its setting's (a choice is a str: the setting checks it); its default is the setting's
    unless declared otherwise."""
    types = typing.get_type_hints(cls)
    defaults = {
        field.name: field.default_factory() if callable(field.default_factory) else field.default
        for field in dataclasses.fields(cls)
    }
    for name, taken in shared_fields(cls).items():
        spec = taken.setting
        assert types[name] == _widened(spec.type), f"{cls.__name__}.{name}: {types[name]} is not {spec.type}"
        assert defaults[name] == OWN_DEFAULTS.get((cls, name), spec.default), f"{cls.__name__}.{name}"


def _widened(annotation):
    """A Literal (or a list of one) as str, as a stage's options hold it."""
    if typing.get_origin(annotation) is typing.Literal:
        return str
    if typing.get_origin(annotation) is list:
        return list[_widened(typing.get_args(annotation)[0])]
    return annotation


def test_shared_refuses_a_setting_that_does_not_exist():
    with pytest.raises(WMEmbError, match=r"shared\('epoch'\): no such setting"):
        shared("epoch")


def test_stage_flags_refuses_a_field_that_does_not_exist_or_takes_a_setting():
    with pytest.raises(TypeError, match="FinetuneOptions has no field mini_batch"):
        stage_flags(FinetuneOptions, mini_batch=typer.Option(help="typo"))
    with pytest.raises(TypeError, match="epochs take"):
        stage_flags(FinetuneOptions, epochs=typer.Option(help="declared twice"))


@pytest.mark.parametrize("command", list(STAGE_COMMANDS), ids=" ".join)
def test_a_stage_command_shows_the_flag_each_setting_declares(command):
    cls = STAGE_COMMANDS[command]
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    lines = {
        line.split()[1]: line for line in result.output.splitlines() if line.startswith("│ ") and len(line.split()) > 1
    }
    for name, taken in shared_fields(cls).items():
        line = lines[taken.flag]
        assert taken.help[:40] in line, name
        default = OWN_DEFAULTS.get((cls, name), taken.setting.default)
        if taken.setting.type is not bool and default not in (None, []):
            shown = ", ".join(map(str, default)) if taken.setting.is_list else str(default)
            assert f"[default: {shown}]" in line, name
        assert all(choice in line for choice in taken.setting.choices), name


def test_a_stage_command_builds_its_options_from_the_declared_flags(monkeypatch, tmp_path):
    seen = []

    def capture(*args):
        seen.append(args[-1])
        raise WMEmbError("captured")

    monkeypatch.setattr("wmemb.train.finetune", capture)
    monkeypatch.setattr("wmemb.generate.prepare_datasets", capture)
    argv = ["finetune", "m", "out", "data.json", "--epochs", "3", "--seed", "7", "--mini-batch-size", "4"]
    assert CliRunner().invoke(app, [*argv, "--loss", "cached", "--matryoshka-dims", "8"]).exit_code == 1
    assert seen.pop() == FinetuneOptions(epochs=3, seed=7, mini_batch_size=4, loss="cached", matryoshka_dims=[8])
    argv = ["prepare", "t.jsonl", "v.jsonl", "-o", str(tmp_path), "--model", "qwen", "--base-url", "http://a/v1"]
    assert CliRunner().invoke(app, [*argv, "--query-styles", "keywords", "--timeout", "5"]).exit_code == 1
    assert seen.pop() == PrepareOptions(model="qwen", base_urls=["http://a/v1"], query_styles=["keywords"], timeout=5)


def test_wmemb_run_fills_each_field_from_the_setting_it_takes(tmp_path):
    config = PipelineConfig.load(
        write_config(tmp_path, 'llm_model = "qwen"\nbase_url = ["http://a/v1"]\nsuggest_top = 7\nseed = 3\n')
    )
    prepare = stage_options(PrepareOptions, config)
    assert (prepare.model, prepare.base_urls, prepare.seed) == ("qwen", ["http://a/v1"], 3)
    assert prepare.base_urls is not config.base_url  # a copy: check() may change it
    assert stage_options(SuggestOptions, config).top == 7
    assert stage_options(MineOptions, config) == MineOptions()  # it takes no setting
