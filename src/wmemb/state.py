"""A working folder's state.json: each stage's key, outputs and summary, and the summaries read back typed.

A stage's summary is what its body returned, as JSON (`to_json`); `StageSummaries` reads each one back with
its class's `from_json`, so the report and the scripts read fields, not `.get` chains: a renamed field fails
where it is read, naming the stage to rerun, instead of emptying a report section.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pydantic

from wmemb.corpus.split import SplitSummary
from wmemb.errors import WMEmbError
from wmemb.export import ExportResult
from wmemb.generate.prepare import PrepareSummary
from wmemb.io import read_json
from wmemb.jsonable import JsonRecord
from wmemb.train.mine import MineSummary
from wmemb.train.summary import FinetuneSummary
from wmemb.vocab.adapt import AdaptSummary
from wmemb.vocab.coverage import TermCoverage
from wmemb.vocab.expand import ExpandReport

if TYPE_CHECKING:
    from wmemb.evaluate.results import EvaluateSummary

T = TypeVar("T")

NO_TERMS = "no_terms"  # the expand stage's summary when there was nothing to add


class _StageState(pydantic.BaseModel):
    """One stage's entry in state.json."""

    model_config = pydantic.ConfigDict(strict=True)
    key: str
    summary: Any = None
    outputs: dict[str, str] | None = None  # path -> content hash, written when the stage finished


_STATE = pydantic.TypeAdapter(dict[str, _StageState])


def read_state(path: Path) -> dict[str, dict]:
    """state.json as written (stage -> {key, summary, outputs}); {} when there is none yet."""
    if not path.is_file():
        return {}
    state = read_json(path)
    try:
        _STATE.validate_python(state)
    except pydantic.ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "top level"
        raise WMEmbError(
            f"{path}: not a wmemb state file ({where}: {error['msg'].lower()}); delete it to rerun every stage"
        ) from None
    return state


@dataclass
class ExpandStageSummary(JsonRecord):
    """The pipeline's expand stage: the terms added, how many training texts hold each, the optional masked-LM
    adaptation, and the fine-tuning of the expanded model. `expand` is None when there were no terms to add
    (models/expanded is then a copy of the fine-tuned model, not evaluated)."""

    expand: ExpandReport | None = None
    coverage: list[TermCoverage] = field(default_factory=list)
    adapt: AdaptSummary | None = None  # only with expand_adapt_epochs
    finetune: FinetuneSummary | None = None

    @property
    def no_terms(self) -> bool:
        return self.expand is None

    def to_json(self) -> dict:
        if self.expand is None:
            return {NO_TERMS: True}
        return {key: value for key, value in super().to_json().items() if value is not None}


class StageSummaries:
    """The summary each stage recorded in a working folder's state.json, typed; None for a stage that recorded
    none (not run yet, off, or interrupted)."""

    def __init__(self, path: Path, state: dict[str, dict] | None = None):
        self.path = path
        self.state = read_state(path) if state is None else state

    def _read(self, stage: str, read: Callable[[dict], T]) -> T | None:
        recorded = (self.state.get(stage) or {}).get("summary")
        if recorded is None:
            return None
        try:
            return read(recorded)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise WMEmbError(
                f"{self.path}: the {stage} stage's summary is not what this wmemb records ({exc}); "
                f"rerun it with `wmemb run --from {stage}`"
            ) from None

    def split(self) -> SplitSummary | None:
        return self._read("split", SplitSummary.from_json)

    def prepare(self) -> PrepareSummary | None:
        return self._read("prepare", PrepareSummary.from_json)

    def mine(self) -> MineSummary | None:
        return self._read("mine", MineSummary.from_json)

    def finetune(self) -> FinetuneSummary | None:
        return self._read("finetune", FinetuneSummary.from_json)

    def expand(self) -> ExpandStageSummary | None:
        return self._read("expand", ExpandStageSummary.from_json)

    def control(self) -> FinetuneSummary | None:
        return self._read("control", FinetuneSummary.from_json)

    def evaluate(self) -> EvaluateSummary | None:
        from wmemb.evaluate.results import EvaluateSummary  # the evaluate package imports torch

        return self._read("evaluate", EvaluateSummary.from_json)

    def export(self) -> ExportResult | None:
        return self._read("export", ExportResult.from_json)
