"""Every setting of `wmemb run`, declared once.

A setting is a field of `PipelineConfig`: its type, default, one-line help, the stage it belongs to
and its range or choices. From this one declaration come the TOML keys of a config file, the
`wmemb run` flags (cli.py), what each stage's hash covers and the options objects the stages take
(pipeline.py), and the settings table in README.md (`python -m wmemb.settings README.md` rewrites it).

A stage's options class (SplitOptions, PrepareOptions, FinetuneOptions, SuggestOptions, ...) declares each
field that is a setting with `shared("name")`: the field takes the setting's default, `check_options` enforces
its range and choices, the stage command (`wmemb finetune`) gets its flag from it (cli.py) and `wmemb run`
fills it from its PipelineConfig (pipeline.py). No field is matched to a setting by its name.

A setting belongs to the first stage whose result it changes. A stage's hash covers the settings of
every stage up to it, so changing a setting reruns its stage and every later one, never an earlier
one. Settings that cannot change a result (where the run happens, how fast the LLM is asked) are
declared `hashed=False`.
"""

from __future__ import annotations

import difflib
import json
import operator
import os
import sys
import typing
import unicodedata
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import pydantic
import tomllib
from pydantic import AfterValidator, ConfigDict, Field, field_validator
from pydantic.config import JsonDict
from pydantic.dataclasses import dataclass as pydantic_dataclass

from wmemb.errors import WMEmbError
from wmemb.generate.backends import LLM_CHOICES

StageName = Literal["split", "prepare", "mine", "finetune", "expand", "control", "evaluate", "export"]
if TYPE_CHECKING:
    LLMChoice = str
else:  # a Literal of the registered backends, which mypy cannot read from a tuple
    LLMChoice = Literal[LLM_CHOICES]
QueryStyle = Literal["questions", "keywords"]  # each has its prompts, parsing and filters (generate/)
STAGES: tuple[str, ...] = typing.get_args(StageName)
OPTIONAL_STAGES = ("mine", "expand", "control", "export")  # each runs when the bool setting of its own name is true

# How a value is read from a config file and hashed:
#   value  - hashed as written
#   file   - a file or folder that must exist, relative to the config file; hashed by content
#   model  - a model folder (relative to the config file when it exists there), hub id or "minilm";
#            hashed by name and by the content of the folder it resolves to
#   folder - a folder (relative to the config file) that need not exist yet
Kind = Literal["value", "file", "model", "folder"]


def setting(
    default: Any, help: str, stage: StageName, *, kind: Kind = "value", hashed: bool = True, **rules: Any
) -> Any:
    """One setting: default, one-line help, its stage, how it is read and hashed, and its range (ge, gt, ...)."""
    extra: JsonDict = {"stage": stage, "kind": kind, "hashed": hashed}
    if isinstance(default, list):
        return Field(default_factory=lambda: list(default), description=help, json_schema_extra=extra, **rules)
    return Field(default, description=help, json_schema_extra=extra, **rules)


def _plain_file_name(name: str) -> str:
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError("must be a plain file name (no / or \\, not starting with a dot)")
    return name


Positive = Annotated[int, Field(ge=1)]


@pydantic_dataclass(config=ConfigDict(strict=True, extra="forbid"))
class PipelineConfig:
    """Every setting of a run; each is a TOML key and a `wmemb run --key value` flag."""

    corpus: list[str] = setting(
        [], "Files or folders to read (.txt .md .html .pdf); repeat the flag for several.", "split", kind="file"
    )
    model: str = setting(
        "minilm", "Base embedding model: a folder, a hub id, or minilm (the packaged default).", "split", kind="model"
    )
    workdir: str = setting(
        "work",
        "Working folder: every stage's output and state.json; another folder is another run.",
        "split",
        kind="folder",
        hashed=False,
    )
    name: Annotated[str, AfterValidator(_plain_file_name)] = setting(
        "corpus", "File stem of the node and dataset files.", "split"
    )
    chunk_tokens: int = setting(
        256, "Max tokens per passage, special tokens included (capped at the model's limit).", "split", ge=16
    )
    overlap: int = setting(0, "Tokens of trailing sentences repeated at the next passage's start.", "split", ge=0)
    min_chars: int = setting(10, "Remove passages with fewer non-space characters (page numbers).", "split", ge=0)
    val_ratio: float = setting(0.2, "Share of passages held out for validation.", "split", gt=0, lt=1)
    seed: int = setting(42, "Seed of the train/validation split, the passage sample and fine-tuning.", "split")
    llm: LLMChoice = setting(
        "auto", "Question writer: a configured server if it answers else local, or the one named.", "prepare"
    )
    base_url: list[str] = setting(
        [], "OpenAI-compatible (.../v1) or Ollama server URL; repeat to share the load.", "prepare"
    )
    llm_model: str | None = setting(
        None,
        "Server model name, or with llm local a causal-LM folder or .gguf file. "
        "Defaults: served model / qwen:14b (ollama) / SmolLM2 (local).",
        "prepare",
    )
    api_key_env: str = setting("OPENAI_API_KEY", "Environment variable holding the API key.", "prepare", hashed=False)
    questions_per_chunk: int = setting(2, "Queries to ask for per passage and query style.", "prepare", ge=1)
    query_styles: list[QueryStyle] = setting(
        ["questions"],
        "Kinds of queries the LLM writes, each passage asked once per style: questions, keywords (search terms); "
        "repeat the flag for several.",
        "prepare",
        min_length=1,
    )
    concurrency: int = setting(8, "Requests in flight (llm local: batch size).", "prepare", ge=1, hashed=False)
    prompt_file: str | None = setting(
        None, "Question prompt template with {context_str} and {num_questions_per_chunk}.", "prepare", kind="file"
    )
    filter_topk: int | None = setting(
        None, "Keep a question only if the base model ranks its passage in this top K.", "prepare", ge=1
    )
    max_train_passages: int | None = setting(
        None,
        "Ask about at most this many training passages (a seeded sample; all stay in the corpus); default all. "
        "On the quality benchmark 400 gained as much as all (bench/quality).",
        "prepare",
        ge=1,
    )
    max_val_passages: int | None = setting(
        None,
        "Ask about at most this many validation passages (all are scored as distractors); default all.",
        "prepare",
        ge=1,
    )
    mine: bool = setting(False, "Mine hard negatives with the base model before fine-tuning.", "mine")
    epochs: int = setting(4, "Fine-tuning epochs; the best epoch on validation is kept.", "finetune", ge=1)
    lr: float | None = setting(
        None, "Learning rate; default by model size: 3e-5 small, 2e-5 base, 1e-5 large.", "finetune", gt=0, lt=1
    )
    batch_size: int | None = setting(None, "Pairs per batch; default 32, capped at the data.", "finetune", ge=2)
    loss: Literal["mnrl", "cached"] = setting(
        "mnrl", "mnrl (in-batch negatives) or cached (GradCache: big batches, small memory).", "finetune"
    )
    scale: float | None = setting(
        None, "Similarity scale = 1/temperature; default 50 for BGE models, else 20.", "finetune", gt=0
    )
    max_length: int | None = setting(
        None, "Max tokens per text in training; default: the data's longest, up to the model's limit.", "finetune", ge=8
    )
    matryoshka_dims: list[Positive] = setting(
        [],
        "Also train these truncated vector sizes (MatryoshkaLoss; the full size is added); repeat the flag. "
        "Evaluate then scores each size; [] = off.",
        "finetune",
    )
    precision: Literal["auto", "fp32", "bf16", "fp16"] = setting(
        "auto", "auto: bf16 on a GPU that has it, else fp16 on a GPU, fp32 on the CPU.", "finetune"
    )
    gradient_checkpointing: bool = setting(
        False,
        "Less memory (GPU or CPU) for more compute: activations are recomputed, the trained model is the same.",
        "finetune",
        hashed=False,
    )
    expand: bool = setting(True, "Add domain terms to the vocabulary, then fine-tune again.", "expand")
    expand_terms: list[str] = setting(
        [], "Terms to add; repeat the flag. Default: expand_terms_file, else the top suggestions.", "expand"
    )
    expand_terms_file: str | None = setting(
        None, "Terms to add, one per line, or the reviewed TSV of `wmemb vocab suggest`.", "expand", kind="file"
    )
    suggest_top: int = setting(
        30, "Without terms: add this many top suggestions (kept in models/expand_terms.tsv).", "expand", ge=1
    )
    expand_adapt_epochs: int = setting(
        0,
        "Masked-language-model epochs over the training passages after expanding, before fine-tuning, so new "
        "terms learn from all their occurrences; 0 = off.",
        "expand",
        ge=0,
    )
    expand_epochs: int = setting(2, "Fine-tuning epochs after expanding.", "expand", ge=1)
    control: bool = setting(
        False,
        "Also train the fine-tuned model expand_epochs more without new terms (models/continued): expansion's own "
        "effect is expanded minus continued, and the final choice includes it.",
        "control",
    )
    ks: list[Positive] = setting(
        [1, 3, 5, 10], "Cut-offs k of hit rate@k and recall@k; repeat the flag for several.", "evaluate", min_length=1
    )
    serve_check: bool = setting(
        False,
        "Export the final model to ONNX and ONNX int8 (temporarily); the report shows texts/s on this CPU and "
        "NDCG@10 of each, and which to serve. Needs wmemb[serve].",
        "evaluate",
    )
    export: bool = setting(
        False, "Export the final model for serving into models/exported (wmemb export; needs wmemb[serve]).", "export"
    )
    export_format: Literal["onnx", "openvino"] = setting("onnx", "Format of the export stage.", "export")
    export_quantize: Literal["none", "int8"] = setting(
        "none", "int8: smaller and faster on CPUs, embeddings slightly off (see serve_check).", "export"
    )

    @field_validator("*")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        """Every text setting is one line: a NUL, which no path may hold ("embedded null byte" at the first
        file touched, mid-run), or another control character is a mistake, refused before any stage."""
        for item in value if isinstance(value, list) else [value]:
            control = (
                next((char for char in item if unicodedata.category(char) == "Cc"), None)
                if isinstance(item, str)
                else None
            )
            if control is not None:
                raise ValueError(f"contains the control character U+{ord(control):04X}; remove it")
        return value

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, overrides: dict[str, Any] | None = None) -> PipelineConfig:
        """A config from a TOML file (optional) plus flag overrides, typed and checked; inputs must exist."""
        values = read_config_file(Path(path)) if path is not None else {}
        origins = {key: str(path) for key in values}
        for key, value in (overrides or {}).items():
            values[key], origins[key] = value, SETTINGS[key].flag if key in SETTINGS else key
        source = str(path) if path is not None else "command line"
        config = cls.from_values(values, origins, source)
        config.check_inputs(origins, source)
        return config

    @classmethod
    def from_values(cls, values: dict[str, Any], origins: dict[str, str], source: str) -> PipelineConfig:
        """Strictly typed (`epochs = true` or `1.9`, `ks = [1.5]` are errors); a list setting also takes one value."""
        values = dict(values)
        unknown = sorted(set(values) - set(SETTINGS))
        if unknown:
            # a typo's nearest key, as the flag parser suggests one; the whole list only when none is near
            near = {key: difflib.get_close_matches(key, SETTINGS, n=1) for key in unknown}
            if all(near.values()):
                hints = "; ".join(f"{key}: did you mean {near[key][0]}?" for key in unknown)
                raise WMEmbError(f"{source}: unknown setting(s) {', '.join(unknown)} ({hints})")
            raise WMEmbError(f"{source}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(SETTINGS)}")
        for key, value in values.items():
            if SETTINGS[key].is_list and not isinstance(value, (list, tuple)):
                values[key] = [value]
            elif isinstance(value, tuple):
                values[key] = list(value)
        try:
            return cls(**values)
        except pydantic.ValidationError as exc:
            error = exc.errors()[0]
            key = str(error["loc"][0])
            message = str(error["msg"]).removeprefix("Value error, ")
            if len(error["loc"]) > 1:  # an item of a list
                message += f" (item {int(error['loc'][1]) + 1})"
            shown = json.dumps(values[key], ensure_ascii=False, default=str)
            raise WMEmbError(
                f"{origins.get(key, source)}: {key} = {shown}: {message[0].lower()}{message[1:]}"
            ) from None

    def check_inputs(self, origins: dict[str, str], source: str) -> None:
        """The files the settings name exist (checked before anything runs); `origins`: where each was set."""
        if not self.corpus:
            raise WMEmbError(f'{source}: no corpus; set corpus = ["book.txt"] or pass --corpus book.txt')
        for spec in SETTINGS.values():
            if spec.kind != "file":
                continue
            value = getattr(self, spec.name)
            for item in value if spec.is_list else [value] if value is not None else []:
                if not Path(item).exists():
                    where = origins.get(spec.name, source)
                    raise WMEmbError(f"{where}: {spec.name} {item}: no such file or folder")


def read_config_file(path: Path) -> dict[str, Any]:
    """The settings of a TOML file; paths in it are made relative to the file, so it works from any folder."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise WMEmbError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise WMEmbError(f"{path}: is a folder; pass a TOML config file") from None
    except UnicodeDecodeError as exc:
        raise WMEmbError(
            f"{path}: not UTF-8 text (byte {exc.start}); save the config as UTF-8 (e.g. iconv -f GBK -t UTF-8)"
        ) from None
    except OSError as exc:
        raise WMEmbError(f"{path}: cannot read the config file ({exc.strerror})") from None
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise WMEmbError(f"{path}: not valid TOML ({exc})") from None
    base = path.parent
    for key, value in values.items():
        kind = SETTINGS[key].kind if key in SETTINGS else "value"
        if kind in ("file", "folder"):
            values[key] = _relative_to(base, value)
        # os.path.exists: a NUL in the value is reported by the settings' own check, not as a ValueError here
        elif kind == "model" and isinstance(value, str) and os.path.exists(base / value):
            values[key] = os.path.normpath(base / value)
    return values


def _relative_to(base: Path, value: Any) -> Any:
    if isinstance(value, list):
        return [_relative_to(base, item) for item in value]
    if isinstance(value, str) and not Path(value).expanduser().is_absolute():
        return os.path.normpath(base / value)
    return value


@dataclass(frozen=True)
class Setting:
    """One field of PipelineConfig, as the CLI, the stage hashes and the README see it."""

    name: str
    type: Any  # the annotation without constraints: int, float | None, list[str], Literal[...]
    default: Any
    help: str
    stage: str
    kind: Kind
    hashed: bool
    rules: tuple[Any, ...]  # pydantic's constraints (Ge, Gt, Lt, MinLen), of the value or of each of its items

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def is_list(self) -> bool:
        return typing.get_origin(self.type) is list

    @property
    def type_name(self) -> str:
        """int, float or none, list of str, "mnrl" or "cached", ..."""
        return _type_name(self.type)

    def describe(self, with_range: bool, in_run: bool = True) -> str:
        """The help line, with the range when asked, and (`in_run`: of `wmemb run`, which skips unchanged stages)
        a word when changing it reruns nothing."""
        text = self.help + (f" ({self.range})" if with_range and self.range else "")
        reruns_nothing = in_run and not self.hashed and self.kind != "folder"  # another working folder is another run
        return text + (" Changing it reruns nothing." if reruns_nothing else "")

    @property
    def range(self) -> str:
        """The rules in short: ">= 1", "> 0, < 1", "at least 1 item"."""
        parts = []
        for rule in self.rules:
            parts += [f"{_BOUNDS[name].sign} {limit}" for name, limit in _bounds(rule)]
            if hasattr(rule, "min_length"):
                parts.append(f"at least {rule.min_length} item{'s' if rule.min_length > 1 else ''}")
        return ", ".join(parts)

    @property
    def choices(self) -> tuple[Any, ...]:
        """The values a Literal setting, or each item of a list of Literal, admits; () for any other."""
        value_type = typing.get_args(self.type)[0] if self.is_list else self.type
        return typing.get_args(value_type) if typing.get_origin(value_type) is Literal else ()

    def check(self, value: Any, flag: str | None = None) -> None:
        """`value` within this setting's range and choices, else a one-line error naming the flag (this setting's
        unless another is given) such as `--epochs 0: must be at least 1`. For values set without PipelineConfig
        (which checks its own)."""
        flag = flag or self.flag
        if value is None:  # the stage's default
            return
        for item in value if self.is_list else [value]:
            if self.choices and item not in self.choices:
                raise WMEmbError(f"{flag} {item!r}: must be one of {', '.join(map(str, self.choices))}")
        if self.is_list:  # list rules (ks) are checked by the stage
            return
        bounds = [bound for rule in self.rules for bound in _bounds(rule)]
        if not all(_BOUNDS[name].holds(value, limit) for name, limit in bounds):
            words = " and ".join(f"{_BOUNDS[name].words} {limit}" for name, limit in bounds)
            raise WMEmbError(f"{flag} {value!r}: must be {words}")


@dataclass(frozen=True)
class _Bound:
    sign: str
    words: str
    holds: Callable[[Any, Any], bool]


_BOUNDS = {
    "ge": _Bound(">=", "at least", operator.ge),
    "gt": _Bound(">", "more than", operator.gt),
    "le": _Bound("<=", "at most", operator.le),
    "lt": _Bound("<", "less than", operator.lt),
}


def _bounds(rule: Any) -> list[tuple[str, Any]]:
    """A pydantic rule's bounds as (ge | gt | le | lt, limit) pairs; [] for other rules (MinLen)."""
    return [(name, getattr(rule, name)) for name in _BOUNDS if hasattr(rule, name)]


def _type_name(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        return "one of " + ", ".join(args)
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is Annotated:
        return _type_name(args[0])
    if args and type(None) in args:
        return " or ".join([_type_name(arg) for arg in args if arg is not type(None)] + ["none"])
    return annotation.__name__


def _declared() -> dict[str, Setting]:
    found = {}
    for spec in fields(PipelineConfig):
        info = PipelineConfig.__pydantic_fields__[spec.name]  # type: ignore[attr-defined]  # set by pydantic
        extra = info.json_schema_extra
        assert isinstance(extra, dict), f"{spec.name}: declare it with setting(...)"
        annotation = info.annotation
        rules = list(info.metadata)
        if typing.get_origin(annotation) is list:
            item = typing.get_args(annotation)[0]
            if typing.get_origin(item) is Annotated:
                base, *marks = typing.get_args(item)
                rules += [rule for mark in marks for rule in getattr(mark, "metadata", [mark])]
                annotation = list[base]  # type: ignore[valid-type]
        found[spec.name] = Setting(
            name=spec.name,
            type=annotation,
            default=info.get_default(call_default_factory=True),
            help=str(info.description),
            stage=str(extra["stage"]),
            kind=extra["kind"],
            hashed=bool(extra["hashed"]),
            rules=tuple(rule for rule in rules if not isinstance(rule, AfterValidator)),
        )
    return found


SETTINGS: dict[str, Setting] = _declared()


# --- the settings a stage's options class takes ---------------------------------------------------------------


@dataclass(frozen=True)
class Shared:
    """How an options field takes a setting: which one, and the stage command's flag and help for it."""

    setting: Setting
    flag: str  # the stage command's flag: the setting's unless declared (`wmemb prepare --model` is llm_model)
    help: str  # the stage command's help: the setting's unless its meaning there is narrower (seed)


_SHARED = "wmemb.setting"  # the key of a field's metadata that holds its Shared


def shared(name: str, *, flag: str | None = None, help: str | None = None, default: Any = MISSING) -> Any:
    """An options field that takes the setting `name`, with the setting's default unless `default` is given (where
    the stage command's differs on purpose: `vocab suggest --top` writes 200 candidates to review, suggest_top adds
    30); `flag` and `help` are the stage command's where they are not the setting's. In a dataclass:
    `epochs: int = shared("epochs")`."""
    if name not in SETTINGS:
        raise WMEmbError(f"shared({name!r}): no such setting; declare it in PipelineConfig (settings.py)")
    spec = SETTINGS[name]
    value = spec.default if default is MISSING else default
    if help:
        described = help + (f" ({spec.range})" if spec.range else "")
    else:
        described = spec.describe(with_range=True, in_run=False)
    metadata = {_SHARED: Shared(spec, flag or spec.flag, described)}
    if isinstance(value, list):
        return field(default_factory=lambda: list(value), metadata=metadata)
    return field(default=value, metadata=metadata)


def shared_fields(options_class: type) -> dict[str, Shared]:
    """The fields of a stage's options class that take a setting (declared with `shared`): field name -> Shared."""
    return {spec.name: spec.metadata[_SHARED] for spec in fields(options_class) if _SHARED in spec.metadata}


def check_options(options: Any) -> None:
    """The range and choices of each setting a stage's options object takes, enforced on its field: a stage command
    (`wmemb finetune --epochs 0`) builds the options without a PipelineConfig, which checks its own."""
    for name, taken in shared_fields(type(options)).items():
        taken.setting.check(getattr(options, name), taken.flag)


def settings_table() -> str:
    """The README's table of settings, one row per setting, in pipeline order."""
    rows = [
        "| setting (TOML key / flag) | type | default | stage | what it does |",
        "|---|---|---|---|---|",
    ]
    for spec in SETTINGS.values():
        default = "none" if spec.default is None else json.dumps(spec.default, ensure_ascii=False)
        kind = spec.type_name + (f" ({spec.range})" if spec.range else "")
        help = spec.describe(with_range=False).replace("|", "\\|")
        rows.append(f"| `{spec.name}` / `{spec.flag}` | {kind} | `{default}` | {spec.stage} | {help} |")
    return "\n".join(rows) + "\n"


README_BEGIN = "<!-- settings table: generated from src/wmemb/settings.py by `python -m wmemb.settings README.md` -->"
README_END = "<!-- end of settings table -->"


def replace_readme_table(text: str) -> str:
    """`text` with the part between the README markers replaced by the current table."""
    head, begin, rest = text.partition(README_BEGIN)
    _, end, tail = rest.partition(README_END)
    if not begin or not end:
        raise WMEmbError(f"README: the markers {README_BEGIN!r} and {README_END!r} are missing")
    return f"{head}{README_BEGIN}\n{settings_table()}{README_END}{tail}"


if __name__ == "__main__":
    if len(sys.argv) > 1:
        readme = Path(sys.argv[1])
        readme.write_text(replace_readme_table(readme.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        print(settings_table(), end="")
