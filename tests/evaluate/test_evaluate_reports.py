"""The `wmemb evaluate` command, the facade method and the report files; bad inputs write nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from typer.testing import CliRunner

from helpers.evaluation_sets import CHINESE, ENGLISH, write_beir
from wmemb import WMEmbModel
from wmemb.cli import app
from wmemb.errors import WMEmbError
from wmemb.evaluate import EvaluationResult, evaluate_models, metric_names


def chart_labels(path) -> list[str]:
    """The text of an SVG chart, which must be well-formed and of a readable size."""
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and float(root.get("width")) > 300
    return [element.text for element in root.iter("{http://www.w3.org/2000/svg}text")]


def test_cli_compares_two_models_on_a_beir_folder_and_writes_all_reports(tmp_path, tiny_bert):
    beir = write_beir(tmp_path / "beir", ENGLISH)
    out = tmp_path / "report"
    run = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--model",
            "minilm",
            "--model",
            str(tiny_bert),
            "--dataset",
            str(beir),
            "--k",
            "1,5",
            "-o",
            str(out),
            "--batch-size",
            "8",
        ],
        env={"COLUMNS": "400"},  # the table and the long tmp paths on one line each
    )
    assert run.exit_code == 0, run.output
    assert "ndcg@10" in run.output and f"wrote {out / 'metrics.svg'}" in run.output

    result = EvaluationResult.from_json(json.loads((out / "metrics.json").read_text(encoding="utf-8")))
    assert (result.dataset, result.queries, result.passages, result.ks) == ("beir/test", 8, 14, (1, 5))
    assert [m.label for m in result.models] == ["minilm", str(tiny_bert)]
    markdown = (out / "metrics.md").read_text(encoding="utf-8")
    for name in metric_names((1, 5)):
        values = [m.metrics[name] for m in result.models]
        assert all(0.0 <= value <= 1.0 for value in values)
        row = next(line for line in markdown.splitlines() if line.startswith(f"| {name} |"))
        assert [cell.strip("* ") for cell in row.split("|")[2:-1]] == [f"{value:.4f}" for value in values]
    for m in result.models:
        assert m.metrics["hit_rate@1"] <= m.metrics["hit_rate@5"] and m.metrics["recall@1"] <= m.metrics["recall@5"]
    # A trained retriever beats random weights on real questions.
    assert result.scores("minilm").metrics["ndcg@10"] > result.scores(str(tiny_bert)).metrics["ndcg@10"]
    labels = chart_labels(out / "metrics.svg")
    assert {"minilm", str(tiny_bert), *metric_names((1, 5))} <= set(labels)


def test_facade_evaluates_its_own_model_on_chinese_llama_index_data(tmp_path, tiny_bert):
    dataset = tmp_path / "微生物学_val_dataset.json"
    CHINESE.save(dataset)
    result = WMEmbModel(tiny_bert).evaluate(dataset, out_dir=tmp_path / "report", show_progress=False)

    assert [m.label for m in result.models] == [str(tiny_bert)]
    assert result.dataset == "微生物学_val_dataset"
    assert set(result.reports) == {"json", "markdown", "chart"}
    saved = json.loads(result.reports["json"].read_text(encoding="utf-8"))
    assert saved["models"][0]["metrics"] == result.models[0].metrics and "per_query" not in saved["models"][0]
    # per query, in the dataset's order: they average to the metrics and name real passages
    per_query = result.models[0].per_query
    assert [query.query_id for query in per_query] == list(CHINESE.queries)
    assert sum(query.ndcg for query in per_query) / len(per_query) == pytest.approx(result.models[0].metrics["ndcg@10"])
    hits_at_1 = sum(query.first_relevant == 1 for query in per_query) / len(per_query)
    assert hits_at_1 == pytest.approx(result.models[0].metrics["hit_rate@1"])
    for query in per_query:
        assert len(query.top) == 3 and set(query.top) <= set(CHINESE.corpus)
        assert (query.first_relevant == 1) == (query.top[0] in CHINESE.relevant_docs[query.query_id])
    assert "# Retrieval evaluation: 微生物学_val_dataset" in result.reports["markdown"].read_text(encoding="utf-8")
    assert "微生物学_val_dataset: 6 queries, 12 passages" in chart_labels(result.reports["chart"])  # Chinese as text


def test_cli_missing_model_is_named_with_exit_status_2_and_nothing_is_written(tmp_path):
    dataset = tmp_path / "val_dataset.json"
    ENGLISH.save(dataset)
    out = tmp_path / "report"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "wmemb.cli",
            "evaluate",
            "--model",
            "minilm",
            "--model",
            str(tmp_path / "no-such-model"),
            "--dataset",
            str(dataset),
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 2
    assert "no-such-model: model folder not found" in run.stderr and "Traceback" not in run.stderr
    assert not out.exists()


@pytest.mark.parametrize("problem", ["not-a-model", "twice", "no-queries", "bad-k"])
def test_bad_inputs_fail_before_any_model_runs_and_write_nothing(tmp_path, minilm, problem):
    dataset = tmp_path / "val_dataset.json"
    ENGLISH.save(dataset)
    models, ks, message = ["minilm"], (1, 3), None
    if problem == "not-a-model":
        (tmp_path / "empty-folder").mkdir()
        models, message = (
            ["minilm", str(tmp_path / "empty-folder")],
            r"empty-folder: not a sentence-transformers or transformers model folder",
        )
    elif problem == "twice":
        models, message = ["minilm", "minilm"], r"--model minilm is given more than once"
    elif problem == "no-queries":
        dataset.write_text(json.dumps({"queries": {}, "corpus": {"p": "text"}, "relevant_docs": {}}), encoding="utf-8")
        message = r"val_dataset\.json: the dataset has no queries"
    else:
        ks, message = ("1", "five"), r"--k 1,five: cut-offs must be whole numbers"
    with pytest.raises(WMEmbError, match=message):
        evaluate_models(models, dataset, ks=ks, out_dir=tmp_path / "report", show_progress=False)
    assert not (tmp_path / "report").exists()
