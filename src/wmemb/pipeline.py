"""The one-command pipeline: split -> prepare -> [mine] -> finetune -> [expand -> finetune] -> evaluate.

Everything lives in one working folder. Each stage records a hash of its inputs (file contents) and
settings in `state.json`; a rerun skips stages whose hash and outputs are unchanged, reruns a stage
whose outputs were edited by hand, and resumes an interrupted one (prepare through its reply cache,
finetune through its checkpoints). `--from STAGE` forces a restart from that stage.

Layout of the working folder:

    nodes/      <name>_{train,val}_nodes.jsonl        (split)
    data/       <name>_{train,val}_dataset.json       (prepare), <name>_train_mined.jsonl (mine)
    models/     finetuned/, expanded/                 (finetune, expand)
    report/     report.html, report.md (+ their .svg charts), summary.json, metrics.json, metrics.md
    state.json
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import tomllib

from wmemb.errors import WMEmbError
from wmemb.io import read_json, write_json

log = logging.getLogger(__name__)

STAGES = ("split", "prepare", "mine", "finetune", "expand", "evaluate")


@dataclass
class PipelineConfig:
    """Every setting of a run; each is a TOML key and a `wmemb run --key value` flag."""

    corpus: list[str] = field(default_factory=list)  # files or folders
    model: str = "minilm"  # base embedding model: folder, hub id, or the packaged MiniLM
    workdir: str = "work"
    name: str = "corpus"
    # split
    chunk_tokens: int = 256
    overlap: int = 0
    min_chars: int = 10
    val_ratio: float = 0.2
    seed: int = 42
    # prepare
    llm: str = "auto"
    base_url: list[str] = field(default_factory=list)
    llm_model: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    questions_per_chunk: int = 2
    concurrency: int = 8
    prompt_file: str | None = None
    filter_topk: int | None = None
    max_train_passages: int | None = None  # cap the LLM's work (cost, demo time); None = all
    max_val_passages: int | None = None
    # mine
    mine: bool = False
    # finetune
    epochs: int = 2
    lr: float | None = None
    batch_size: int | None = None
    loss: str = "mnrl"
    scale: float | None = None
    # expand (then fine-tune again)
    expand: bool = False
    expand_terms: list[str] = field(default_factory=list)  # empty: take the top `suggest_top` suggestions
    expand_terms_file: str | None = None
    suggest_top: int = 50
    expand_epochs: int = 2
    # evaluate
    ks: list[int] = field(default_factory=lambda: [1, 3, 5, 10])

    @classmethod
    def load(cls, path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> PipelineConfig:
        """A config from a TOML file (optional) plus flag overrides; unknown keys are an error."""
        values: dict[str, Any] = {}
        source = "flags"
        if path is not None:
            source = str(path)
            try:
                values = tomllib.loads(Path(path).read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise WMEmbError(f"{path}: config file not found") from None
            except tomllib.TOMLDecodeError as exc:
                raise WMEmbError(f"{path}: not valid TOML ({exc})") from None
            base = Path(path).parent
            # paths in a config file are relative to the file, so a config works from any folder
            for key in ("corpus", "workdir", "prompt_file", "expand_terms_file"):
                if key in values:
                    values[key] = _relative_to(base, values[key])
            if isinstance(values.get("model"), str) and (base / values["model"]).exists():
                values["model"] = str(base / values["model"])
        values.update(overrides or {})
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise WMEmbError(f"{source}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(known)}")
        config = cls(**{key: _coerce(known[key], value, source) for key, value in values.items()})
        return config.check(source)

    def check(self, source: str) -> PipelineConfig:
        if not self.corpus:
            raise WMEmbError(f'{source}: no corpus; set corpus = ["book.txt"] or pass --corpus')
        for item in self.corpus:
            if not Path(item).exists():
                raise WMEmbError(f"{source}: corpus {item}: no such file or folder")
        if not self.name or "/" in self.name:
            raise WMEmbError(f"{source}: name {self.name!r} must be a plain file stem")
        return self


def _relative_to(base: Path, value: Any) -> Any:
    if isinstance(value, list):
        return [_relative_to(base, item) for item in value]
    if isinstance(value, str) and not Path(value).expanduser().is_absolute():
        return os.path.normpath(base / value)
    return value


def _coerce(spec: dataclasses.Field, value: Any, source: str) -> Any:
    """Flags arrive as strings; TOML values arrive typed. Convert to the field's type or fail clearly."""
    kind = str(spec.type)
    try:
        if kind.startswith("list"):
            items = value if isinstance(value, list) else [v for v in str(value).split(",") if v]
            return [int(v) for v in items] if "int" in kind else [str(v) for v in items]
        if value is None or (isinstance(value, str) and value.lower() == "none" and "None" in kind):
            return None
        if kind.startswith("bool"):
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "1", "yes", "on"):
                return True
            if str(value).lower() in ("false", "0", "no", "off"):
                return False
            raise ValueError(value)
        if kind.startswith("int"):
            return int(value)
        if kind.startswith("float"):
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise WMEmbError(f"{source}: setting {spec.name} = {value!r} is not a valid {kind}") from None


# --- content hashes and stage state -------------------------------------------------------------------


def hash_path(path: Path) -> str:
    """SHA-256 of a file's bytes, or of a folder's (relative name, file hash) list."""
    digest = hashlib.sha256()
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(str(file.relative_to(path)).encode())
            digest.update(hash_path(file).encode())
        return digest.hexdigest()
    stat = path.stat()
    return _hash_file(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=4096)
def _hash_file(path: str, mtime_ns: int, size: int) -> str:
    """A file's SHA-256, computed once per content version (stages share inputs such as the model)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class Stage:
    name: str
    inputs: list[Path]  # files/folders whose content the result depends on
    settings: dict  # settings the result depends on
    outputs: list[Path]
    run: Callable[[bool], dict]  # does the work (resuming when told so), returns a JSON-able summary

    def key(self) -> str:
        digest = hashlib.sha256(
            json.dumps({"stage": self.name, "settings": self.settings}, sort_keys=True, default=str).encode()
        )
        for path in self.inputs:
            digest.update(hash_path(path).encode() if path.exists() else b"missing")
        return digest.hexdigest()


@dataclass
class StageRecord:
    stage: str
    action: str  # "ran" or "skipped"
    reason: str
    seconds: float = 0.0
    peak_rss_mb: float = 0.0


class Pipeline:
    """Runs the enabled stages of a config in its working folder."""

    def __init__(self, config: PipelineConfig):
        self.config = config
        self.workdir = Path(config.workdir)
        self.state_path = self.workdir / "state.json"
        name = config.name
        self.paths = {
            "train_nodes": self.workdir / "nodes" / f"{name}_train_nodes.jsonl",
            "val_nodes": self.workdir / "nodes" / f"{name}_val_nodes.jsonl",
            "train_dataset": self.workdir / "data" / f"{name}_train_dataset.json",
            "val_dataset": self.workdir / "data" / f"{name}_val_dataset.json",
            "mined": self.workdir / "data" / f"{name}_train_mined.jsonl",
            "finetuned": self.workdir / "models" / "finetuned",
            "expanded": self.workdir / "models" / "expanded",
            "terms": self.workdir / "models" / "expand_terms.tsv",
            "report": self.workdir / "report",
        }

    # -- orchestration --

    def run(self, from_stage: str | None = None, until: str | None = None) -> list[StageRecord]:
        """Run the stages in order (`until`: stop after that stage); returns what each one did."""
        for option, stage_name in (("--from", from_stage), ("until", until)):
            if stage_name is not None and stage_name not in STAGES:
                raise WMEmbError(f"{option} {stage_name}: unknown stage; choose one of {', '.join(STAGES)}")
        self.workdir.mkdir(parents=True, exist_ok=True)
        state = read_json(self.state_path) if self.state_path.is_file() else {}
        records: list[StageRecord] = []
        forced = False
        for stage in self.stages():
            forced = forced or stage.name == from_stage
            key = stage.key()
            reason = "forced by --from" if forced else self._stale_reason(stage, key, state.get(stage.name))
            if reason is None:
                log.info("%s: up to date, skipped", stage.name)
                records.append(StageRecord(stage.name, "skipped", "inputs, settings and outputs unchanged"))
                if stage.name == until:
                    break
                continue
            log.info("%s: running (%s)", stage.name, reason)
            previous = state.get(stage.name) or {}
            resume = previous.get("key") == key and "outputs" not in previous and not forced
            state[stage.name] = {"key": key}
            write_json(self.state_path, state)
            started = time.perf_counter()
            summary = stage.run(resume)
            state[stage.name] = {
                "key": key,
                "summary": summary,
                "outputs": {str(path): hash_path(path) for path in stage.outputs},
            }
            write_json(self.state_path, state)
            records.append(StageRecord(stage.name, "ran", reason, time.perf_counter() - started, _peak_rss_mb()))
            if stage.name == until:
                break
        return records

    @staticmethod
    def _stale_reason(stage: Stage, key: str, record: dict | None) -> str | None:
        if record is None:
            return "first run"
        if record.get("key") != key:
            return "inputs or settings changed"
        if "outputs" not in record:
            return "resuming an interrupted run"
        for path_name, digest in record["outputs"].items():
            path = Path(path_name)
            if not path.exists():
                return f"output {path} is missing"
            if hash_path(path) != digest:
                return f"output {path} was edited"
        return None

    def stages(self) -> list[Stage]:
        c, p = self.config, self.paths
        model_input = _model_inputs(c.model)
        stages = [
            Stage(
                "split",
                [Path(item) for item in c.corpus] + model_input,
                {
                    k: getattr(c, k)
                    for k in ("model", "chunk_tokens", "overlap", "min_chars", "val_ratio", "seed", "name")
                },
                [p["train_nodes"], p["val_nodes"]],
                self._split,
            ),
            Stage(
                "prepare",
                [p["train_nodes"], p["val_nodes"]] + ([Path(c.prompt_file)] if c.prompt_file else []),
                {
                    k: getattr(c, k)
                    for k in (
                        "llm",
                        "base_url",
                        "llm_model",
                        "questions_per_chunk",
                        "prompt_file",
                        "filter_topk",
                        "max_train_passages",
                        "max_val_passages",
                        "seed",
                    )
                },
                [p["train_dataset"], p["val_dataset"]],
                self._prepare,
            ),
        ]
        if c.mine:
            stages.append(
                Stage("mine", [p["train_dataset"]] + model_input, {"model": c.model}, [p["mined"]], self._mine)
            )
        train_data = p["mined"] if c.mine else p["train_dataset"]
        finetune_settings = {k: getattr(c, k) for k in ("model", "epochs", "lr", "batch_size", "loss", "scale", "seed")}
        stages.append(
            Stage(
                "finetune",
                [train_data, p["val_dataset"]] + model_input,
                finetune_settings,
                [p["finetuned"]],
                self._finetune,
            )
        )
        if c.expand:
            terms_input = [Path(c.expand_terms_file)] if c.expand_terms_file else []
            stages.append(
                Stage(
                    "expand",
                    [p["finetuned"], train_data, p["val_dataset"], p["train_nodes"]] + terms_input,
                    {
                        **finetune_settings,
                        "expand_terms": c.expand_terms,
                        "suggest_top": c.suggest_top,
                        "expand_epochs": c.expand_epochs,
                    },
                    [p["expanded"]],
                    self._expand,
                )
            )
        evaluated = [p["finetuned"]] + ([p["expanded"]] if c.expand else [])
        stages.append(
            Stage(
                "evaluate",
                [p["val_dataset"], *evaluated] + model_input,
                {"ks": c.ks, "model": c.model},
                [p["report"] / "metrics.json"],
                self._evaluate,
            )
        )
        return stages

    # -- stage bodies --

    def _split(self, resume: bool) -> dict:
        from wmemb.corpus import SplitOptions, split_corpus

        c = self.config
        summary = split_corpus(
            c.corpus,
            self.paths["train_nodes"].parent,
            model=c.model,
            name=c.name,
            options=SplitOptions(
                chunk_tokens=c.chunk_tokens,
                overlap=c.overlap,
                min_chars=c.min_chars,
                val_ratio=c.val_ratio,
                seed=c.seed,
            ),
        )
        return summary.to_json()

    def _prepare(self, resume: bool) -> dict:  # resumes through its reply cache either way
        from wmemb.corpus.split import assign_validation
        from wmemb.generate.prepare import PrepareOptions, prepare_datasets
        from wmemb.records import read_nodes, write_nodes

        c = self.config
        nodes_dir = self.workdir / "data" / "nodes-used"
        used = {}
        for split, cap in (("train", c.max_train_passages), ("val", c.max_val_passages)):
            source = self.paths[f"{split}_nodes"]
            nodes = read_nodes(source)
            if cap is not None and cap < len(nodes):
                # the same seeded order split uses: a reproducible, unbiased sample of the passages
                keep = assign_validation(nodes, cap / len(nodes), c.seed + 1)
                nodes = [node for node in nodes if node.id in keep]
                log.info("prepare: questions for %d of the %s passages (max_%s_passages)", len(nodes), split, split)
            used[split] = nodes_dir / source.name
            write_nodes(used[split], nodes)
        options = PrepareOptions(
            llm=c.llm,
            base_urls=list(c.base_url),
            model=c.llm_model,
            api_key_env=c.api_key_env,
            concurrency=c.concurrency,
            questions_per_chunk=c.questions_per_chunk,
            prompt_file=c.prompt_file,
            filter_topk=c.filter_topk,
            embed_model=c.model if c.filter_topk else None,
        )
        summary = prepare_datasets(used["train"], used["val"], self.paths["train_dataset"].parent, options)
        return summary.to_json()

    def _mine(self, resume: bool) -> dict:
        from wmemb.train.mine import mine

        summary = mine(self.paths["train_dataset"], self.paths["mined"], model=self.config.model)
        return _jsonable(summary)

    def _finetune_options(self, epochs: int, resume: bool):
        from wmemb.train.finetune import FinetuneOptions

        c = self.config
        return FinetuneOptions(
            epochs=epochs,
            lr=c.lr,
            batch_size=c.batch_size,
            loss=c.loss,
            scale=c.scale,
            seed=c.seed,
            overwrite=True,
            resume=resume,
        )

    def _finetune(self, resume: bool) -> dict:
        from wmemb.train.finetune import finetune

        c = self.config
        train = self.paths["mined"] if c.mine else self.paths["train_dataset"]
        summary = finetune(
            c.model, self.paths["finetuned"], train, self.paths["val_dataset"], self._finetune_options(c.epochs, resume)
        )
        return _jsonable(summary)

    def _expand(self, resume: bool) -> dict:
        from wmemb.train.finetune import finetune
        from wmemb.vocab.expand import expand_model

        c = self.config
        terms = self.expand_terms()
        report = expand_model(
            self.paths["finetuned"], self.paths["expanded"], terms, overwrite=True, report_texts=self.paths["val_nodes"]
        )
        train = self.paths["mined"] if c.mine else self.paths["train_dataset"]
        summary = finetune(
            self.paths["expanded"],
            self.paths["expanded"],
            train,
            self.paths["val_dataset"],
            self._finetune_options(c.expand_epochs, resume=False),
        )
        return {"expand": _jsonable(report), "finetune": _jsonable(summary)}

    def expand_terms(self) -> list[str]:
        """The terms to add: given in the config, read from a file, or the top suggestions."""
        c = self.config
        if c.expand_terms:
            return list(c.expand_terms)
        if c.expand_terms_file:
            from wmemb.vocab.wordfile import read_terms

            return read_terms(c.expand_terms_file)
        from wmemb.vocab.suggest import SuggestOptions, suggest_terms, write_terms_tsv

        result = suggest_terms([self.paths["train_nodes"]], model=c.model, options=SuggestOptions(top=c.suggest_top))
        write_terms_tsv(self.paths["terms"], result.candidates)
        log.info(
            "expand: using the top %d suggested terms (review them in %s)", len(result.candidates), self.paths["terms"]
        )
        if not result.candidates:
            raise WMEmbError(
                f"{self.paths['train_nodes']}: vocab suggest found no terms; set expand_terms or expand = false"
            )
        return [candidate.term for candidate in result.candidates]

    def _evaluate(self, resume: bool) -> dict:
        from wmemb.evaluate.evaluate import evaluate_models
        from wmemb.report.run import RunFiles, RunSettings, write_run_report  # loads torch, like the stage modules

        c = self.config
        models = {"base": c.model, "finetuned": str(self.paths["finetuned"])}
        if c.expand:
            models["expanded"] = str(self.paths["expanded"])
        result = evaluate_models(
            list(models.values()),
            self.paths["val_dataset"],
            ks=tuple(c.ks),
            out_dir=self.paths["report"],
            labels=list(models),
        )
        write_run_report(
            RunFiles(
                name=c.name,
                state=self.state_path,
                data_dir=self.paths["train_dataset"].parent,
                train_dataset=self.paths["train_dataset"],
                val_dataset=self.paths["val_dataset"],
                finetuned=self.paths["finetuned"],
                expanded=self.paths["expanded"] if c.expand else None,
                report_dir=self.paths["report"],
            ),
            RunSettings(asdict(c), asdict(PipelineConfig())),
            result,
        )
        return result.to_json()


def _model_inputs(model: str) -> list[Path]:
    """The base model's folder, hashed like any input (a changed model reruns everything)."""
    from wmemb.models import resolve_model

    return [resolve_model(model)]


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return _jsonable(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
