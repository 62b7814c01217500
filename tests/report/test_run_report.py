"""The run report of a real bilingual run, read as a person would: in a browser and as Markdown."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from dataclasses import asdict

import pytest

from helpers.browser import probe_page, screenshot
from helpers.pipeline_inputs import CHINESE_NAME
from helpers.serve_extra import ONNX_INSTALLED
from wmemb.cli import run_config
from wmemb.evaluate import evaluate_models
from wmemb.evaluate.choice import Judgement
from wmemb.io import write_jsonl
from wmemb.records import QADataset
from wmemb.report.run import RunFiles, RunSettings, write_run_report

pytestmark = pytest.mark.slow  # end to end

SECTIONS = ["Verdict", "Training", "Data", "Queries that changed", "Vocabulary", "Serving", "Use the model"]


def test_page_renders_in_chromium_with_chinese_labels_and_a_verdict(finished_run, tmp_path):
    page = finished_run / "report" / "report.html"
    found = probe_page(page, tmp_path)
    shot = screenshot(page, tmp_path / "report.png", found["height"])
    print(f"screenshot: {shot}")

    if not found["cjkFont"]:
        pytest.skip(f"no CJK font: Chinese shows as boxes (apt-get install fonts-noto-cjk); screenshot {shot}")
    assert found["sections"] == SECTIONS
    assert found["external"] == [] and found["images"] == []  # self-contained: charts are inline SVG
    assert len(found["svgs"]) == 6  # verdict, all metrics, training, data funnel, added terms, vector sizes
    assert all(svg["width"] > 200 and svg["height"] > 80 and svg["texts"] > 3 for svg in found["svgs"])
    chinese = {label["text"] for label in found["chineseLabels"] if label["width"] > 10}
    assert {"革兰氏阳性菌", "细胞壁", "train · 中文 (zh): kept"} <= chinese
    assert any(text.startswith(f"{CHINESE_NAME}_val_dataset") for text in chinese)  # the metrics chart's title
    verdict = r"(The \w+ model wins.*|No clear winner): NDCG@10 \d\.\d{3} → \d\.\d{3} \([+-]\d\.\d{3}; 95% CI"
    assert re.match(f"{verdict}|No difference: NDCG@10 .* the same NDCG@10", found["verdict"]), found["verdict"]
    assert shot.stat().st_size > 50_000


def test_markdown_holds_the_same_sections_and_its_charts_exist(finished_run):
    report = finished_run / "report"
    markdown = (report / "report.md").read_text(encoding="utf-8")
    assert re.findall(r"^## (.+)$", markdown, re.M) == SECTIONS
    for chart in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown):
        assert (report / chart).read_text(encoding="utf-8").startswith("<svg")
    assert "| lipopolysaccharide | added |" in markdown and "✓ one token" in markdown
    assert "**The run's final model is the " in markdown  # the verdict names the model the run ships
    # both judges in the verdict table (the cloze check decides), and a template for the user's own questions
    assert "How far to trust this" in markdown and "| comparison | scored on |" in markdown
    assert (
        "| finetuned − base | cloze queries |" in markdown and "| finetuned − base | validation questions |" in markdown
    )
    # BM25 and the hybrid beside the models, never shipped: the verdict places the shipped model against them
    state = json.loads((finished_run / "state.json").read_text(encoding="utf-8"))
    final = state["evaluate"]["summary"]["final"]["model"]
    rows = {row["label"]: row["baseline"] for row in state["evaluate"]["summary"]["models"]}
    assert rows == {"base": False, "finetuned": False, "expanded": False, "bm25": True} | {
        f"hybrid({label})": True for label in ("base", "finetuned", "expanded")
    }
    assert final in {"base", "finetuned", "expanded"}
    for queries in ("cloze queries", "validation questions"):
        assert f"| {final} (shipped) − BM25 | {queries} |" in markdown
        assert f"| hybrid({final}) − {final} (what BM25 adds) | {queries} |" in markdown
    assert re.search(
        rf"On the cloze check, the {final} model is (above|below|within noise of) BM25 \(NDCG@10", markdown
    )
    assert "which favours BM25" in markdown
    template = QADataset.load(report / "your_questions.json").validate()
    val = QADataset.load(finished_run / "data" / f"{CHINESE_NAME}_val_dataset.json")
    assert template.corpus == val.corpus and template.queries and "--dataset your_questions.json" in markdown
    assert state["evaluate"]["summary"]["cloze"]["queries"] > 0
    assert "encode_query" in markdown and "HuggingFaceEmbedding(" in markdown and "HuggingFaceEmbeddings(" in markdown
    final_path = (finished_run / "models" / "final").resolve()
    exported = (finished_run / "models" / "exported").resolve()  # the export stage was off: the command makes it
    assert f"wmemb export {final_path} {exported} --quantize int8" in markdown
    command = re.search(r"^wmemb run .*$", markdown, re.M).group(0)
    summary = json.loads((report / "summary.json").read_text(encoding="utf-8"))
    # the command gives back the run's settings exactly (all but the export stage's, which runs after the report)
    reproduced = asdict(run_config(shlex.split(command)[2:]))
    assert {name: reproduced[name] for name in summary["settings"]} == summary["settings"]
    assert set(reproduced) - set(summary["settings"]) == {"export", "export_format", "export_quantize"}
    assert "--expand-terms 革兰氏阳性菌" in command.replace("'", "")
    assert not re.search(r"--expand(\s|$)", command) and "--seed" not in command  # defaults are not repeated
    languages = summary["data"]["splits"]["train"]["by_language"]
    assert set(languages) == {"en", "zh"} and all(counts["kept_questions"] > 0 for counts in languages.values())


def test_the_serving_section_shows_ndcg_per_vector_size_and_speed(finished_run):
    markdown = (finished_run / "report" / "report.md").read_text(encoding="utf-8")
    section = markdown.partition("## Serving")[2].partition("## Use the model")[0]
    assert "| model | vector size | NDCG@10 | minus full size | bytes per vector (float32) |" in section
    for label in ("base", "finetuned", "expanded"):
        assert f"| {label} | 32 (full) |" in section and f"| {label} | 8 |" in section, label
    assert (finished_run / "report" / "sizes.svg").read_text(encoding="utf-8").startswith("<svg")
    serving = json.loads((finished_run / "state.json").read_text(encoding="utf-8"))["evaluate"]["summary"]["serving"]
    assert [row["dimension"] for row in serving["sizes"]["truncated"]] == [8, 16] * 3
    if not ONNX_INSTALLED:
        assert serving["throughput"] is None and "Speed on this CPU" not in section
        return
    assert [variant["name"] for variant in serving["throughput"]["variants"]] == ["torch", "onnx", "onnx-int8"]
    assert "| onnx-int8 |" in section and f"**{serving['throughput']['recommendation']}**" in section
    assert "load average" in section


def test_dropped_questions_are_shown_when_prepare_recorded_them(finished_run, tmp_path):
    data = tmp_path / "data"  # a copy: the run is shared by the tests of this module
    shutil.copytree(finished_run / "data", data)
    val = QADataset.load(data / f"{CHINESE_NAME}_val_dataset.json")
    passage_id = next(iter(val.corpus))
    write_jsonl(
        data / f"{CHINESE_NAME}_val_dropped.jsonl",
        [{"node_id": passage_id, "query": "芽孢 好", "reason": "not_question"}],
    )
    (data / f"{CHINESE_NAME}_train_dropped.jsonl").unlink()  # as an older prepare left it: no list for train
    models = {"base": None, "finetuned": finished_run / "models" / "finetuned"}
    models["base"] = json.loads((finished_run / "report" / "metrics.json").read_text(encoding="utf-8"))["models"][0][
        "path"
    ]
    result = evaluate_models(
        list(models.values()), data / f"{CHINESE_NAME}_val_dataset.json", labels=list(models), show_progress=False
    )
    files = RunFiles(
        name=CHINESE_NAME,
        state=finished_run / "state.json",
        data_dir=data,
        train_dataset=data / f"{CHINESE_NAME}_train_dataset.json",
        val_dataset=data / f"{CHINESE_NAME}_val_dataset.json",
        finetuned=finished_run / "models" / "finetuned",
        expanded=None,
        report_dir=tmp_path / "report",
        exported=finished_run / "models" / "exported",
    )
    write_run_report(files, RunSettings({"epochs": 2}, {"epochs": 2}), Judgement.of(result))
    markdown = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")

    assert "| val | not_question | 芽孢 好 |" in markdown  # the sample, next to its passage
    assert "| val | 中文 (zh) |" in markdown or "| val | English (en) |" in markdown
    assert "Dropped questions: not recorded for train " in markdown  # the train split has no list
    assert "No terms were added in this run: expansion was off" in markdown and "\nwmemb run\n" in markdown
