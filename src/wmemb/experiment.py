"""`wmemb experiment expand-order`: does it matter whether the vocabulary is expanded before or
after fine-tuning?

On one Chinese textbook, "fine-tune 2 epochs, then expand and fine-tune" and "expand, then
fine-tune" were seen to end about the same, with more than 2 epochs overfitting. This checks it on
your data, on the same split and questions (the pipeline's split and prepare stages):

    base                          the model as it is
    finetune                      fine-tune for `epochs`
    expand-finetune               expand, then fine-tune for `epochs`
    finetune2-expand-finetune     fine-tune 2 epochs, expand, then fine-tune for `epochs` more
    finetune2-finetune            the control: fine-tune 2 epochs, then `epochs` more without new terms

with validation metrics after every epoch, and writes a table and a chart of NDCG@10 per epoch. The
control trains exactly as long as finetune2-expand-finetune on the same pairs, so their difference
(with a paired bootstrap interval over the validation questions) is what the new terms themselves add.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

from wmemb.evaluate.bootstrap import Difference
from wmemb.evaluate.choice import compare, interval_text
from wmemb.evaluate.evaluate import evaluate_models
from wmemb.io import atomic_write, write_json
from wmemb.pipeline import Pipeline, PipelineConfig
from wmemb.render.charts import Line, line_chart
from wmemb.render.tables import markdown_table
from wmemb.train.finetune import finetune
from wmemb.vocab import expand_model

log = logging.getLogger(__name__)

METRIC = "ndcg@10"


@dataclass
class Arm:
    name: str
    curve: list[tuple[int, dict[str, float]]] = field(default_factory=list)  # (epochs trained in total, val metrics)

    @property
    def best(self) -> tuple[int, dict[str, float]]:
        return max(self.curve, key=lambda point: point[1].get(METRIC, 0.0))


@dataclass
class ExpandOrderResult:
    arms: list[Arm]
    terms: list[str]
    expansion_effect: Difference | None = None  # finetune2-expand-finetune minus finetune2-finetune, per query
    files: dict[str, str] = field(default_factory=dict)


def run_expand_order(config: PipelineConfig, epochs: int = 4) -> ExpandOrderResult:
    pipeline = Pipeline(config)
    with pipeline.lock():
        pipeline.run(until="mine" if config.mine else "prepare")
        out = pipeline.workdir / "experiment-expand-order"
        terms = pipeline.expand_terms()
        log.info("expand-order: %d terms, %d epochs per arm, results in %s", len(terms), epochs, out)

        def train_curve(model: str | Path, output: Path, n_epochs: int, offset: int = 0) -> list[tuple[int, dict]]:
            options = pipeline.finetune_options(n_epochs, resume=False)
            summary = finetune(model, output, pipeline.train_data, pipeline.paths.val_dataset, options)
            return [(offset + e.epoch, e.metrics) for e in summary.epochs]

        finetuned = train_curve(config.model, out / "finetune", epochs)
        arms = [Arm("base", finetuned[:1]), Arm("finetune", finetuned)]
        expand_model(config.model, out / "expanded-base", terms, overwrite=True)
        arms.append(Arm("expand-finetune", train_curve(out / "expanded-base", out / "expand-finetune", epochs)))
        first = train_curve(config.model, out / "finetune2", 2)
        expand_model(out / "finetune2", out / "finetune2-expanded", terms, overwrite=True)
        second = train_curve(out / "finetune2-expanded", out / "finetune2-expand-finetune", epochs, offset=2)
        arms.append(Arm("finetune2-expand-finetune", first + second[1:]))
        control = train_curve(out / "finetune2", out / "finetune2-finetune", epochs, offset=2)
        arms.append(Arm("finetune2-finetune", first + control[1:]))
        saved = evaluate_models(
            [out / "finetune2-finetune", out / "finetune2-expand-finetune"], pipeline.paths.val_dataset
        ).models
        result = ExpandOrderResult(arms=arms, terms=terms, expansion_effect=compare(saved[0], saved[1]))
        result.files = write_expand_order_report(result, out)
    return result


def write_expand_order_report(result: ExpandOrderResult, out: Path) -> dict[str, str]:
    names = ["ndcg@10", "mrr@10", "recall@10", "hit_rate@1"]
    last_epoch = max(point[0] for arm in result.arms for point in arm.curve)
    best_rows = []
    for arm in result.arms:
        epoch, metrics = arm.best
        best_rows.append(
            [arm.name, epoch, *(f"{metrics.get(n, float('nan')):.4f}" for n in names)]
            + [f"{arm.curve[-1][1].get(METRIC, float('nan')):.4f}"]
        )
    curve_rows = []
    for arm in result.arms:
        by_epoch = {e: m.get(METRIC) for e, m in arm.curve}
        value = by_epoch.get
        curve_rows.append(
            [arm.name, *(f"{value(e):.4f}" if value(e) is not None else "" for e in range(last_epoch + 1))]
        )
    terms = ", ".join(result.terms[:30]) + (" ..." if len(result.terms) > 30 else "")
    lines = [
        "# Expand-order experiment",
        "",
        f"{len(result.terms)} terms added: {terms}",
        "",
        "What the new terms themselves add (finetune2-expand-finetune minus finetune2-finetune, the same training "
        "without new terms; best epochs): "
        + (interval_text(result.expansion_effect) if result.expansion_effect else "no per-query scores")
        + ".",
        "",
        markdown_table(["arm", "best epoch", *(f"best {n}" for n in names), f"final {METRIC}"], best_rows, "lr"),
        "",
        f"{METRIC} per epoch (epoch 0 = before training):",
        "",
        markdown_table(["arm", *(str(e) for e in range(last_epoch + 1))], curve_rows, "l" + "r" * (last_epoch + 1)),
    ]
    files = {
        "json": str(out / "experiment.json"),
        "markdown": str(out / "experiment.md"),
        "chart": str(out / "experiment.svg"),
    }
    effect = asdict(result.expansion_effect) if result.expansion_effect else None
    write_json(
        files["json"],
        {"terms": result.terms, "arms": [asdict(arm) for arm in result.arms], "expansion_effect": effect},
    )
    with atomic_write(files["markdown"]) as handle:
        handle.write("\n".join(lines) + "\n\n![NDCG@10 per epoch](experiment.svg)\n")
    with atomic_write(files["chart"]) as handle:
        handle.write(_chart(result))
    return files


def _chart(result: ExpandOrderResult) -> str:
    curves = [
        Line(arm.name, [(epoch, metrics.get(METRIC, float("nan"))) for epoch, metrics in arm.curve], arm.best[0])
        for arm in result.arms
    ]
    return line_chart("Expand before or after fine-tuning?", "epochs trained", f"validation {METRIC}", curves)
