"""What an evaluation produced: per model and per query results, readable back from metrics.json.

Its own module so that the reports (report.py, wmemb.report) read results without loading the
evaluation itself (torch, sentence-transformers)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from wmemb.evaluate.metrics import NDCG_AT, metric_names

BM25_LABEL = "bm25"  # the row of the BM25 baseline
FINAL_METRIC = f"ndcg@{NDCG_AT}"  # what the final model's record names its score by


def hybrid_label(label: str) -> str:
    """The row of `label`'s model fused with BM25."""
    return f"hybrid({label})"


@dataclass
class QueryResult:
    """One model's result on one query."""

    query_id: str
    ndcg: float  # NDCG@10 of this query
    top: list[str]  # ids of the best-ranked passages, best first
    first_relevant: int | None  # rank (1 = best) of the first relevant passage within the search depth


@dataclass
class ModelScores:
    """One model's results on the evaluation data."""

    label: str  # the model as the user named it
    path: str  # the folder it was loaded from
    query_prompt: str | None
    metrics: dict[str, float]
    encoded_texts: int  # queries + passages
    encode_seconds: float
    search_seconds: float
    # per query, in the dataset's order; kept in memory only: metrics.json holds the averages
    per_query: list[QueryResult] = field(default_factory=list, repr=False)
    dimension: int | None = None  # size of the vectors searched (truncated rows: the cut size); None for BM25
    baseline: bool = False  # a `--baseline` row (BM25, hybrid), not a model: never a candidate to ship

    @property
    def texts_per_second(self) -> float:
        return self.encoded_texts / self.encode_seconds if self.encode_seconds > 0 else 0.0


@dataclass
class EvaluationResult:
    """Metrics of every model on one dataset, in the order the models were given."""

    dataset: str
    source: str
    queries: int
    passages: int
    ks: tuple[int, ...]
    models: list[ModelScores]
    truncated: list[ModelScores] = field(default_factory=list)  # the models at smaller vector sizes (dims)
    reports: dict[str, Path] = field(default_factory=dict)  # kind ("json", "markdown", "chart") -> file

    @property
    def metric_names(self) -> list[str]:
        return metric_names(self.ks)

    def without_baselines(self) -> EvaluationResult:
        """The same result with the models' rows only (what the final-model choice weighs)."""
        return replace(self, models=[model for model in self.models if not model.baseline])

    @property
    def baselines(self) -> list[ModelScores]:
        return [model for model in self.models if model.baseline]

    def scores(self, label: str) -> ModelScores:
        for model in self.models:
            if model.label == label:
                return model
        raise KeyError(label)

    def to_json(self) -> dict:
        return {
            "dataset": self.dataset,
            "source": self.source,
            "queries": self.queries,
            "passages": self.passages,
            "ks": list(self.ks),
            "metric_names": self.metric_names,
            "models": [_model_json(model) for model in self.models],
            **({"truncated": [_model_json(model) for model in self.truncated]} if self.truncated else {}),
        }

    @classmethod
    def from_json(cls, obj: dict) -> EvaluationResult:
        """Read back what `to_json` wrote (e.g. a metrics.json from an earlier run)."""
        fields = ModelScores.__dataclass_fields__

        def read(rows: list[dict]) -> list[ModelScores]:
            return [ModelScores(**{key: value for key, value in row.items() if key in fields}) for row in rows]

        return cls(
            dataset=obj["dataset"],
            source=obj["source"],
            queries=obj["queries"],
            passages=obj["passages"],
            ks=tuple(obj["ks"]),
            models=read(obj["models"]),
            truncated=read(obj.get("truncated", [])),
        )


@dataclass(frozen=True)
class FinalModel:
    """The model the evaluate stage chose to ship (models/final links to it), and why in words."""

    model: str  # its label
    path: str
    link: str  # models/final
    judge: str  # the judge that decided (evaluate/choice.py)
    ndcg: float  # NDCG@10 on the deciding judge's queries
    base_ndcg: float  # the base model's, on the same queries
    verdict: str = ""  # the choice in sentences; "" in a working folder whose evaluate ran before wmemb kept it

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "path": self.path,
            "link": self.link,
            "judge": self.judge,
            FINAL_METRIC: self.ndcg,
            f"base_{FINAL_METRIC}": self.base_ndcg,
            "verdict": self.verdict,
        }

    @classmethod
    def from_json(cls, obj: dict) -> FinalModel:
        return cls(
            model=obj["model"],
            path=obj["path"],
            link=obj["link"],
            judge=obj["judge"],
            ndcg=obj[FINAL_METRIC],
            base_ndcg=obj[f"base_{FINAL_METRIC}"],
            verdict=obj.get("verdict", ""),
        )


@dataclass
class EvaluateSummary:
    """The pipeline's evaluate stage as state.json records it: the validation result (at the top level, as
    metrics.json holds it), the cloze check, the serving figures and the final model."""

    validation: EvaluationResult
    cloze: EvaluationResult | None = None  # None where the passages gave no cloze query
    # ServingResult.to_json(): kept as JSON, its throughput rows hold figures, not the ModelScores they came from
    serving: dict | None = None
    final: FinalModel | None = None

    def to_json(self) -> dict:
        return {
            **self.validation.to_json(),
            "cloze": self.cloze.to_json() if self.cloze else None,
            "serving": self.serving,
            "final": self.final.to_json() if self.final else None,
        }

    @classmethod
    def from_json(cls, obj: dict) -> EvaluateSummary:
        cloze, final = obj.get("cloze"), obj.get("final")
        return cls(
            validation=EvaluationResult.from_json(obj),
            cloze=EvaluationResult.from_json(cloze) if cloze else None,
            serving=obj.get("serving"),
            final=FinalModel.from_json(final) if final else None,
        )


def _model_json(model: ModelScores) -> dict:
    summary = asdict(model) | {"texts_per_second": model.texts_per_second}
    del summary["per_query"]
    return summary
