"""The run report: report/report.html (one self-contained page) and report/report.md, written at the
end of `wmemb run` from what the run left on disk and the evaluation it just did.

In reading order: the verdict (which model won on the validation questions, by how much, how sure),
the training curves, the data funnel (passages -> replies -> kept questions, with what was dropped
and why), the queries that changed most, the added vocabulary, serving, and how to use the model.
Each section is a module of this package returning its Section, charts included; this one gathers what
they read (the stage summaries in state.json, typed; the datasets) and writes the files.
Whatever a stage did not record is said to be "not recorded", never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from wmemb.evaluate.choice import TEMPLATE_FILE, Judgement
from wmemb.evaluate.serving import ServingResult
from wmemb.files import RunNames
from wmemb.io import atomic_write, write_json
from wmemb.records import QADataset
from wmemb.render.document import render_html, render_markdown
from wmemb.report.funnel import Funnel
from wmemb.report.queries import per_query_section
from wmemb.report.serving import serving_section
from wmemb.report.training import training_section
from wmemb.report.usage import RunSettings, usage_section
from wmemb.report.verdict import questions_template, verdict_section
from wmemb.report.vocabulary import vocabulary_section
from wmemb.state import StageSummaries

__all__ = ["REPORT_FILES_RUN", "RunFiles", "RunSettings", "write_run_report"]

REPORT_FILES_RUN = {"html": "report.html", "markdown": "report.md", "summary": "summary.json"}


@dataclass(frozen=True)
class RunFiles:
    """Where one run's results lie. The report reads them all and writes only into `report_dir`."""

    name: str
    state: Path  # state.json: each stage's recorded summary
    data_dir: Path  # prepare's datasets, reply caches, failure and dropped-question lists
    train_dataset: Path
    val_dataset: Path
    finetuned: Path
    expanded: Path | None  # None when vocabulary expansion was off
    report_dir: Path
    exported: Path  # where the export stage writes the final model (after the report, when it is on)
    final: Path | None = None  # the link the pipeline points at the chosen model (choose_final)
    continued: Path | None = None  # the control arm; None when it was off


def write_run_report(
    files: RunFiles, settings: RunSettings, judgement: Judgement, serving: ServingResult | None = None
) -> dict[str, Path]:
    """Build every section, then write report.html, report.md, their SVG charts and summary.json."""
    summaries = StageSummaries(files.state)
    prepare = summaries.prepare()
    expand = summaries.expand() if files.expanded else None
    val = QADataset.load(files.val_dataset)
    train = QADataset.load(files.train_dataset)
    funnel = Funnel.read(files.data_dir, RunNames(files.name), summaries.split(), prepare, {"train": train, "val": val})
    sections = [
        verdict_section(judgement, prepare, files.final),
        training_section(files.finetuned, files.expanded, files.continued),
        funnel.section(),
        per_query_section(judgement.validation, val),
        vocabulary_section(expand.expand if expand else None, train),
        serving_section(serving),
        usage_section(judgement, val, settings, files.exported),
    ]
    title = f"wmemb report: {files.name}"
    out = files.report_dir
    paths = {kind: out / name for kind, name in REPORT_FILES_RUN.items()}
    for chart in (chart for section in sections for chart in section.charts):
        with atomic_write(out / chart.file) as handle:
            handle.write(chart.svg)
    write_json(
        paths["summary"],
        {"final_model": judgement.choice.model.label, "data": funnel.summary(), "settings": settings.values},
    )
    questions_template(val).save(out / TEMPLATE_FILE)
    with atomic_write(paths["markdown"]) as handle:
        handle.write(render_markdown(title, sections))
    with atomic_write(paths["html"]) as handle:
        handle.write(render_html(title, sections))
    return paths
