"""The one-command pipeline: split -> prepare -> [mine] -> finetune -> [expand -> finetune] -> [control] -> evaluate
-> [export].

Everything lives in one working folder. Each stage records a hash of its inputs (file contents) and
settings in `state.json`; a rerun skips stages whose hash and outputs are unchanged, reruns a stage
whose outputs were edited by hand, and resumes an interrupted one (prepare through its reply cache,
finetune through its checkpoints). `--from STAGE` forces a restart from that stage. A stage's hash
covers the settings of every stage up to it (settings.py), so a changed setting reruns its stage and
the later ones, never an earlier one. Every setting is checked before the first stage runs, and one
run at a time holds the working folder.

Layout of the working folder (`WorkPaths`):

    nodes/      <name>_{train,val}_nodes.jsonl        (split)
    data/       <name>_{train,val}_dataset.json       (prepare), <name>_train_mined.jsonl (mine)
    models/     finetuned/, expanded/, continued/     (finetune, expand, control)
                final -> the model the run ships (evaluate; a symbolic link; evaluate/choice.py says which)
                exported/ the final model as ONNX or OpenVINO                 (export)
    report/     report.html, report.md (+ their .svg charts), summary.json, metrics.json, metrics.md
    state.json, .wmemb.lock
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import hashlib
import json
import logging
import os
import resource
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from wmemb.corpus import SplitOptions, split_corpus
from wmemb.errors import WMEmbError
from wmemb.export import export_model, require_exporter
from wmemb.files import RunNames
from wmemb.generate.prepare import PrepareOptions, prepare_datasets
from wmemb.io import atomic_dir, folder_size, write_json
from wmemb.models import check_vector_sizes, embedding_dimension, resolve_model
from wmemb.records import QADataset, read_nodes
from wmemb.settings import OPTIONAL_STAGES, SETTINGS, STAGES, PipelineConfig, shared_fields
from wmemb.state import ExpandStageSummary, StageSummaries, read_state
from wmemb.train.finetune import FinetuneOptions, finetune
from wmemb.train.mine import mine
from wmemb.vocab import ExpandReport, expand_model, read_word_file, validate_terms
from wmemb.vocab.adapt import adapt_new_tokens
from wmemb.vocab.coverage import TermCoverage, term_coverage, uncovered_summary
from wmemb.vocab.suggest import SuggestOptions, suggest_terms, write_terms_tsv

if TYPE_CHECKING:
    from wmemb.evaluate.data import EvalData
    from wmemb.evaluate.evaluate import ModelScores

__all__ = ["STAGES", "Pipeline", "PipelineConfig", "Stage", "StageInterrupted", "StageRecord", "WorkPaths"]

log = logging.getLogger(__name__)

Options = TypeVar("Options")


def stage_options(cls: type[Options], config: PipelineConfig, **given: Any) -> Options:
    """A stage's options object: each field declared to take a setting (settings.shared) takes that setting's value
    (a copy of a list); `given` sets the rest."""
    taken = {
        name: copy.copy(getattr(config, spec.setting.name))
        for name, spec in shared_fields(cls).items()
        if name not in given
    }
    return cls(**taken, **given)


@dataclass(frozen=True)
class WorkPaths:
    """Where everything lives in a working folder."""

    root: Path
    state: Path
    lock: Path
    train_nodes: Path
    val_nodes: Path
    train_dataset: Path
    val_dataset: Path
    mined: Path
    finetuned: Path
    expanded: Path
    continued: Path  # the control arm: the fine-tuned model trained as long as expanded, without new terms
    terms: Path  # the suggested terms expand used when none were given
    final: Path  # a link to the model the run ships: the best on validation
    report: Path
    exported: Path  # the final model for serving (export stage)

    @classmethod
    def of(cls, workdir: Path, name: str) -> WorkPaths:
        nodes, data, models = workdir / "nodes", workdir / "data", workdir / "models"
        names = RunNames(name)
        return cls(
            root=workdir,
            state=workdir / "state.json",
            lock=workdir / ".wmemb.lock",
            train_nodes=nodes / names.nodes("train"),
            val_nodes=nodes / names.nodes("val"),
            train_dataset=data / names.dataset("train"),
            val_dataset=data / names.dataset("val"),
            mined=data / names.mined(),
            finetuned=models / "finetuned",
            expanded=models / "expanded",
            continued=models / "continued",
            terms=models / "expand_terms.tsv",
            final=models / "final",
            report=workdir / "report",
            exported=models / "exported",
        )


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
    inputs: list[Path]  # files/folders earlier stages wrote; the result depends on their content
    outputs: list[Path]
    run: Callable[[bool], dict]  # does the work (resuming when told so), returns a JSON-able summary
    kept: str = ""  # what an interrupted run leaves for the next one to resume from


@dataclass
class StageRecord:
    stage: str
    action: str  # "ran" or "skipped"
    reason: str
    seconds: float = 0.0
    peak_rss_mb: float = 0.0


class StageInterrupted(KeyboardInterrupt):
    """Ctrl-C during a stage; the message says what was kept and how to resume."""


class Pipeline:
    """Runs the enabled stages of a config in its working folder."""

    def __init__(self, config: PipelineConfig):
        self.config = config
        self.workdir = Path(config.workdir)
        self.paths = WorkPaths.of(self.workdir, config.name)
        self.state_path = self.paths.state
        self._lock_depth = 0

    @property
    def train_data(self) -> Path:
        """What fine-tuning trains on: the mined file when mining is on, else prepare's dataset."""
        return self.paths.mined if self.config.mine else self.paths.train_dataset

    def enabled_stages(self) -> list[str]:
        return [name for name in STAGES if name not in OPTIONAL_STAGES or getattr(self.config, name)]

    # -- checks before anything runs --

    def check(self, from_stage: str | None = None, until: str | None = None) -> None:
        """Everything a run needs that can be checked without running a stage; writes nothing."""
        c = self.config
        enabled = self.enabled_stages()
        for option, stage_name in (("--from", from_stage), ("until", until)):
            if stage_name is None or stage_name in enabled:
                continue
            if stage_name in STAGES:
                raise WMEmbError(
                    f"{option} {stage_name}: the {stage_name} stage is off in this config; turn it on with "
                    f"{stage_name} = true (--{stage_name}) or choose one of {', '.join(enabled)}"
                )
            raise WMEmbError(f"{option} {stage_name}: unknown stage; choose one of {', '.join(enabled)}")
        c.check_inputs({}, source="config")
        if self.workdir.exists() and not self.workdir.is_dir():
            raise WMEmbError(f"workdir {self.workdir}: is a file; set workdir to a folder")
        final = self.paths.final
        if final.exists() and not final.is_symlink():
            # found now, not after an hour of stages: evaluate replaces this link and never a real folder
            raise WMEmbError(f"{final}: not the link a run makes to its final model; move it away")
        if c.control and not c.expand:
            raise WMEmbError(
                "control = true measures what expansion adds, so it needs expand = true (--expand); "
                "for more epochs alone, raise epochs"
            )
        resolve_model(c.model)
        stage_options(SplitOptions, c).check()
        self.prepare_options().check()
        self.finetune_options(c.epochs, resume=False).check()
        if c.serve_check:
            require_exporter("onnx", "serve_check")
        if c.export:
            require_exporter(c.export_format, "export")
        if c.matryoshka_dims:  # sizes above the model's are found now, not after prepare's hour of LLM calls
            check_vector_sizes(c.matryoshka_dims, SETTINGS["matryoshka_dims"].flag, embedding_dimension(c.model))
        if c.expand_terms:
            validate_terms(list(c.expand_terms))
        if c.expand_terms_file:
            read_word_file(c.expand_terms_file)
        self._read_state()

    def _read_state(self) -> dict[str, dict]:
        return read_state(self.state_path)

    def summaries(self) -> StageSummaries:
        """What each stage recorded in state.json, typed: `pipeline.summaries().expand()` and so on."""
        return StageSummaries(self.state_path, self._read_state())

    # -- stage keys --

    def key(self, stage: Stage) -> str:
        """The hash a stage's result depends on: the settings up to it, and its inputs' content."""
        digest = hashlib.sha256(
            json.dumps({"stage": stage.name, "settings": self._settings_up_to(stage.name)}, sort_keys=True).encode()
        )
        for path in stage.inputs:
            digest.update(hash_path(path).encode() if path.exists() else b"missing")
        return digest.hexdigest()

    def stage_keys(self) -> dict[str, str]:
        """Every enabled stage's key as things stand, without running anything."""
        return {stage.name: self.key(stage) for stage in self.stages()}

    def _settings_up_to(self, stage_name: str) -> dict[str, Any]:
        """The hashed settings of the enabled stages up to `stage_name`; files and models by content."""
        stages = set(STAGES[: STAGES.index(stage_name) + 1]) & set(self.enabled_stages())
        values: dict[str, Any] = {}
        for spec in SETTINGS.values():
            if not spec.hashed or spec.stage not in stages:
                continue
            value = getattr(self.config, spec.name)
            if spec.kind == "file":
                value = [hash_path(Path(item)) for item in (value if spec.is_list else [value] if value else [])]
            elif spec.kind == "model":
                value = [value, hash_path(resolve_model(value))]
            values[spec.name] = value
        return values

    # -- orchestration --

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the working folder for this process; another run on it stops, naming this one's PID."""
        if self._lock_depth:
            yield
            return
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
            handle = open(self.paths.lock, "a+", encoding="utf-8")
        except OSError as exc:
            raise WMEmbError(f"workdir {self.workdir}: cannot write there ({exc.strerror})") from None
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "unknown"
                raise WMEmbError(
                    f"workdir {self.workdir}: in use by another wmemb run (PID {holder}); "
                    "wait for it to finish or stop it"
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1

    def run(self, from_stage: str | None = None, until: str | None = None) -> list[StageRecord]:
        """Run the stages in order (`until`: stop after that stage); returns what each one did."""
        self.check(from_stage, until)
        with self.lock():
            state = self._read_state()
            records: list[StageRecord] = []
            forced = False
            for stage in self.stages():
                forced = forced or stage.name == from_stage
                key = self.key(stage)
                reason = "forced by --from" if forced else self._stale_reason(key, state.get(stage.name))
                if reason is None:
                    log.info("%s: up to date, skipped", stage.name)
                    records.append(StageRecord(stage.name, "skipped", "inputs, settings and outputs unchanged"))
                else:
                    records.append(self._run_stage(stage, key, reason, state, forced))
                if stage.name == until:
                    break
            return records

    def _run_stage(self, stage: Stage, key: str, reason: str, state: dict, forced: bool) -> StageRecord:
        log.info("%s: running (%s)", stage.name, reason)
        previous = state.get(stage.name) or {}
        resume = previous.get("key") == key and "outputs" not in previous and not forced
        state[stage.name] = {"key": key}
        write_json(self.state_path, state)
        started = time.perf_counter()
        try:
            summary = stage.run(resume)
        except KeyboardInterrupt:
            raise StageInterrupted(self._interrupted_message(stage, state)) from None
        state[stage.name] = {
            "key": key,
            "summary": summary,
            "outputs": {str(path): hash_path(path) for path in stage.outputs},
        }
        write_json(self.state_path, state)
        return StageRecord(stage.name, "ran", reason, time.perf_counter() - started, _peak_rss_mb())

    def _interrupted_message(self, stage: Stage, state: dict) -> str:
        done = [name for name, record in state.items() if "outputs" in record and name != stage.name]
        kept = f"{stage.name} keeps {stage.kept}" if stage.kept else f"{stage.name} starts over"
        return (
            f"interrupted during {stage.name}; kept in {self.workdir}: "
            f"{', '.join(done) + ' (finished)' if done else 'no finished stage'}, and {kept}; "
            "run the same command again to resume"
        )

    @staticmethod
    def _stale_reason(key: str, record: dict | None) -> str | None:
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
        """The enabled stages, in order, with the files each one reads and writes."""
        c, p = self.config, self.paths
        stages = [
            Stage("split", [], [p.train_nodes, p.val_nodes], self._split),
            Stage(
                "prepare",
                [p.train_nodes, p.val_nodes],
                [p.train_dataset, p.val_dataset],
                self._prepare,
                kept="the LLM replies received so far",
            ),
        ]
        if c.mine:
            stages.append(Stage("mine", [p.train_dataset], [p.mined], self._mine))
        stages.append(
            Stage(
                "finetune", [self.train_data, p.val_dataset], [p.finetuned], self._finetune, kept="its last checkpoint"
            )
        )
        if c.expand:
            stages.append(
                Stage(
                    "expand", [p.finetuned, self.train_data, p.val_dataset, p.train_nodes], [p.expanded], self._expand
                )
            )
        if c.control:
            stages.append(
                Stage(
                    "control",
                    [p.finetuned, self.train_data, p.val_dataset],
                    [p.continued],
                    self._control,
                    kept="its last checkpoint",
                )
            )
        evaluated = [p.finetuned] + ([p.expanded] if c.expand else []) + ([p.continued] if c.control else [])
        stages.append(
            Stage("evaluate", [p.val_dataset, *evaluated], [p.report / "metrics.json", p.final], self._evaluate)
        )
        if c.export:
            stages.append(Stage("export", [p.final], [p.exported], self._export))
        return stages

    # -- stage options and bodies --

    def prepare_options(self) -> PrepareOptions:
        c = self.config
        return stage_options(PrepareOptions, c, embed_model=c.model if c.filter_topk else None)

    def finetune_options(self, epochs: int, resume: bool) -> FinetuneOptions:
        return stage_options(FinetuneOptions, self.config, epochs=epochs, overwrite=True, resume=resume)

    def _split(self, resume: bool) -> dict:
        c = self.config
        summary = split_corpus(
            list(c.corpus),
            self.paths.train_nodes.parent,
            model=c.model,
            name=c.name,
            options=stage_options(SplitOptions, c),
        )
        return summary.to_json()

    def _prepare(self, resume: bool) -> dict:  # resumes through its reply cache either way
        p = self.paths
        return prepare_datasets(p.train_nodes, p.val_nodes, p.train_dataset.parent, self.prepare_options()).to_json()

    def _mine(self, resume: bool) -> dict:
        return mine(self.paths.train_dataset, self.paths.mined, model=self.config.model).to_json()

    def _finetune(self, resume: bool) -> dict:
        c = self.config
        options = self.finetune_options(c.epochs, resume)
        return finetune(c.model, self.paths.finetuned, self.train_data, self.paths.val_dataset, options).to_json()

    def _expand(self, resume: bool) -> dict:
        c, p = self.config, self.paths
        terms = self.expand_terms()
        if not terms:
            # expansion is on by default: a corpus without domain terms is not an error, nor worth a second model
            log.warning(
                "expand: vocab suggest found no domain terms in %s; nothing to add, so the run ships base or "
                "fine-tuned (models/expanded is a copy of the fine-tuned model, not evaluated)",
                p.train_nodes,
            )
            with atomic_dir(p.expanded, overwrite=True, needed=folder_size(p.finetuned)) as folder:
                shutil.copytree(p.finetuned, folder, dirs_exist_ok=True)
            return ExpandStageSummary().to_json()
        report = expand_model(p.finetuned, p.expanded, terms, overwrite=True, report_texts=p.val_nodes)
        summary = ExpandStageSummary(report, self._term_coverage(report))
        if c.expand_adapt_epochs:
            texts = [node.text for node in read_nodes(p.train_nodes)]
            token_ids = [term.token_id for term in report.added if term.token_id is not None]
            summary.adapt = adapt_new_tokens(p.expanded, texts, token_ids, c.expand_adapt_epochs, seed=c.seed)
        options = self.finetune_options(c.expand_epochs, resume=False)
        summary.finetune = finetune(p.expanded, p.expanded, self.train_data, p.val_dataset, options)
        return summary.to_json()

    def _control(self, resume: bool) -> dict:
        """The fine-tuned model trained for expand_epochs on the same pairs, as expand trains it, minus the
        new terms: what the expanded model gains over this one is expansion's own effect."""
        p = self.paths
        options = self.finetune_options(self.config.expand_epochs, resume)
        return finetune(p.finetuned, p.continued, self.train_data, p.val_dataset, options).to_json()

    def _term_coverage(self, report: ExpandReport) -> list[TermCoverage]:
        """How many training questions and paired passages contain each added term; warns about uncovered ones."""
        from transformers import AutoTokenizer  # heavy: only runs with expansion

        tokenizer = AutoTokenizer.from_pretrained(self.paths.expanded)
        token_ids = {term.term: term.token_id for term in report.added if term.token_id is not None}
        coverage = term_coverage(tokenizer, token_ids, QADataset.load(self.paths.train_dataset))
        warning = uncovered_summary(coverage)
        if warning:
            log.warning("expand: %s", warning)
        return coverage

    def expand_terms(self) -> list[str]:
        """The terms to add: given in the config, read from a file, or the top suggestions."""
        c = self.config
        if c.expand_terms:
            return validate_terms(list(c.expand_terms))
        if c.expand_terms_file:
            return read_word_file(c.expand_terms_file)
        result = suggest_terms([self.paths.train_nodes], model=c.model, options=stage_options(SuggestOptions, c))
        write_terms_tsv(self.paths.terms, result.candidates)
        log.info(
            "expand: using the top %d suggested terms (review them in %s)", len(result.candidates), self.paths.terms
        )
        return [candidate.term for candidate in result.candidates]

    def _evaluate(self, resume: bool) -> dict:
        # the evaluate package imports torch: loaded only when a run gets here
        from wmemb.evaluate.choice import Judgement
        from wmemb.evaluate.evaluate import BASELINES, evaluate_models
        from wmemb.evaluate.results import EvaluateSummary
        from wmemb.evaluate.serving import serving_checks
        from wmemb.report.run import RunFiles, RunSettings, write_run_report

        c = self.config
        models = {"base": c.model, "finetuned": str(self.paths.finetuned)}
        expanded = self.summaries().expand()
        if c.expand and not (expanded and expanded.no_terms):
            models["expanded"] = str(self.paths.expanded)
        if c.control:  # after expanded: on a tie the choice prefers it (evaluate/choice.py)
            models["continued"] = str(self.paths.continued)
        validation = evaluate_models(
            list(models.values()),
            self.paths.val_dataset,
            ks=tuple(c.ks),
            out_dir=self.paths.report,
            labels=list(models),
            baselines=BASELINES,  # where the shipped model stands against lexical search; never chosen
            dims=tuple(c.matryoshka_dims),  # each model encoded once, cut to each size
        )
        cloze = self._cloze_data()
        cloze_result = (
            evaluate_models(list(models.values()), cloze, ks=tuple(c.ks), labels=list(models), baselines=BASELINES)
            if cloze
            else None
        )
        judgement = Judgement.of(validation, cloze_result)
        final = judgement.choice.model
        self._link_final(final)
        sizes = validation if c.matryoshka_dims else None
        serving = serving_checks(sizes, final.path, self.paths.val_dataset, c.serve_check)
        write_run_report(
            RunFiles(
                name=c.name,
                state=self.state_path,
                data_dir=self.paths.train_dataset.parent,
                train_dataset=self.paths.train_dataset,
                val_dataset=self.paths.val_dataset,
                finetuned=self.paths.finetuned,
                expanded=self.paths.expanded if "expanded" in models else None,
                continued=self.paths.continued if "continued" in models else None,
                exported=self.paths.exported,
                report_dir=self.paths.report,
                final=self.paths.final,
            ),
            RunSettings(_reported_settings(c), _reported_settings(PipelineConfig())),
            judgement,
            serving,
        )
        # kept in the state: the choice needs the per-query scores, which metrics.json does not hold
        record = judgement.final_model(self.paths.final)
        log.info("evaluate: %s", record.verdict)
        for sentence in judgement.baseline_sentences():
            log.info("evaluate: %s", sentence)
        return EvaluateSummary(validation, cloze_result, serving.to_json() if serving else None, record).to_json()

    def _export(self, resume: bool) -> dict:
        c = self.config
        quantize = None if c.export_quantize == "none" else c.export_quantize
        source = self.paths.final.resolve()  # the model evaluate chose, whichever it is
        return export_model(source, self.paths.exported, c.export_format, quantize, overwrite=True).to_json()

    def _cloze_data(self) -> EvalData | None:
        """The cloze check over the validation passages; None (and a log line) when none gives a query."""
        from wmemb.evaluate.cloze import cloze_dataset
        from wmemb.evaluate.data import EvalData

        nodes = read_nodes(self.paths.val_nodes)
        dataset = cloze_dataset(((node.id, node.titled_text()) for node in nodes), seed=self.config.seed)
        if not dataset.queries:
            log.warning("evaluate: no validation passage has 3 sentences or more: no cloze check; validation decides")
            return None
        log.info("evaluate: cloze check over %d of the %d validation passages", len(dataset.queries), len(nodes))
        return EvalData(name="cloze", source=self.paths.val_nodes, dataset=dataset)

    def _link_final(self, final: ModelScores) -> None:
        """Point models/final at the chosen model: its folder name when it lives in models/, else its full path."""
        link = self.paths.final
        target = Path(final.path)
        if target.resolve().parent == link.parent.resolve():
            target = Path(target.name)  # relative: the working folder can be moved
        else:
            target = target.resolve()
        staged = link.with_name(f".{link.name}.tmp-{os.getpid()}")
        staged.unlink(missing_ok=True)
        staged.symlink_to(target, target_is_directory=True)
        try:
            os.replace(staged, link)
        except OSError as exc:
            staged.unlink(missing_ok=True)
            raise WMEmbError(f"{link}: cannot point it at the final model ({exc.strerror}); move it away") from None


def _reported_settings(config: PipelineConfig) -> dict[str, Any]:
    """The settings the report lists: those of the stages up to evaluate, which writes it (export runs after)."""
    return {name: getattr(config, name) for name, spec in SETTINGS.items() if spec.stage != "export"}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
