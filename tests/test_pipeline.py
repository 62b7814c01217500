"""The pipeline end to end: tiny corpus, tiny model, a real local OpenAI-protocol server as the LLM."""

import dataclasses
import json
import logging
import re
from pathlib import Path

import pytest

from helpers.pipeline_inputs import config_for, write_corpus
from helpers.serve_extra import needs_onnx
from wmemb.errors import WMEmbError
from wmemb.pipeline import Pipeline, PipelineConfig
from wmemb.vocab.suggest import SuggestResult


def actions(records) -> dict[str, str]:
    return {record.stage: record.action for record in records}


def final_choice(workdir: Path) -> dict:
    """The evaluate stage's choice, checked against the deciding judge's scores (the base unless a trained
    model beats it) and against models/final."""
    state = json.loads((workdir / "state.json").read_text(encoding="utf-8"))
    summary = state["evaluate"]["summary"]
    final = summary["final"]
    judged = summary["cloze"] if final["judge"] == "the cloze check" else summary
    score = {model["label"]: model["metrics"]["ndcg@10"] for model in judged["models"]}
    assert final["ndcg@10"] == score[final["model"]] and final["base_ndcg@10"] == score["base"]
    assert final["model"] == "base" or score[final["model"]] > score["base"]
    assert (workdir / "models" / "final").resolve() == Path(final["path"]).resolve()
    report = (workdir / "report" / "report.md").read_text(encoding="utf-8")
    assert f"The run's final model is the {final['model']} model" in report
    assert "were written by" in report  # the validation questions are said to be synthetic
    summary = json.loads((workdir / "report" / "summary.json").read_text(encoding="utf-8"))
    assert summary["final_model"] == final["model"]
    return final


@pytest.mark.slow
def test_pipeline_runs_skips_and_reruns_what_changed(tmp_path, tiny_bert, server):
    pipeline = Pipeline(config_for(tmp_path, tiny_bert, server))
    assert actions(pipeline.run()) == {"split": "ran", "prepare": "ran", "finetune": "ran", "evaluate": "ran"}
    report = tmp_path / "work" / "report"
    metrics = json.loads((report / "metrics.json").read_text(encoding="utf-8"))
    rows = [(model["label"], model["baseline"]) for model in metrics["models"]]
    assert rows == [("base", False), ("finetuned", False), ("bm25", True), ("hybrid(base)", True)] + [
        ("hybrid(finetuned)", True)
    ]
    assert 0 <= metrics["models"][1]["metrics"]["ndcg@10"] <= 1
    assert (report / "metrics.svg").read_text(encoding="utf-8").startswith("<svg")
    assert "| finetuned − base |" in (report / "report.md").read_text(encoding="utf-8")
    summary = json.loads((report / "summary.json").read_text(encoding="utf-8"))
    assert summary["data"]["passages"] > 10 and summary["data"]["splits"]["train"]["kept_questions"] > 10
    final = final_choice(tmp_path / "work")
    assert final["model"] in ("base", "finetuned")
    requests = len(server.chat_requests())

    pipeline = Pipeline(config_for(tmp_path, tiny_bert, server))
    assert set(actions(pipeline.run()).values()) == {"skipped"}
    assert len(server.chat_requests()) == requests

    assert actions(Pipeline(config_for(tmp_path, tiny_bert, server)).run(from_stage="finetune")) == {
        "split": "skipped",
        "prepare": "skipped",
        "finetune": "ran",
        "evaluate": "ran",
    }

    dataset = tmp_path / "work" / "data" / "book_val_dataset.json"
    dataset.write_text(dataset.read_text(encoding="utf-8").replace("?", "？", 1), encoding="utf-8")  # edited by hand
    assert actions(Pipeline(config_for(tmp_path, tiny_bert, server)).run())["prepare"] == "ran"

    write_corpus(tmp_path, variant=" revised")
    assert actions(Pipeline(config_for(tmp_path, tiny_bert, server)).run()) == {
        "split": "ran",
        "prepare": "ran",
        "finetune": "ran",
        "evaluate": "ran",
    }


@pytest.mark.slow
def test_pipeline_with_expansion_evaluates_three_models(tmp_path, tiny_bert, server, caplog):
    config = config_for(
        tmp_path,
        tiny_bert,
        server,
        expand=True,
        expand_terms=["革兰氏阳性菌", "lipopolysaccharide", "鞭毛马达"],
        expand_epochs=1,
        expand_adapt_epochs=1,
        control=True,
    )
    with caplog.at_level(logging.WARNING, logger="wmemb"):
        assert actions(Pipeline(config).run())["control"] == "ran"
    metrics = json.loads((tmp_path / "work" / "report" / "metrics.json").read_text(encoding="utf-8"))
    assert [model["label"] for model in metrics["models"] if not model["baseline"]] == [
        "base",
        "finetuned",
        "expanded",
        "continued",
    ]
    final_choice(tmp_path / "work")
    # the control arm: the fine-tuned model trained expand_epochs more on the same pairs, with no new tokens
    state = json.loads((tmp_path / "work" / "state.json").read_text(encoding="utf-8"))
    control = state["control"]["summary"]
    assert (
        control["settings"]["epochs"] == 1
        and control["train_pairs"] == state["expand"]["summary"]["finetune"]["train_pairs"]
    )
    models = tmp_path / "work" / "models"
    assert (
        json.loads((models / "continued" / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]
        == (json.loads((models / "finetuned" / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"])
    )
    report = (tmp_path / "work" / "report" / "report.md").read_text(encoding="utf-8")
    assert "| expanded − continued (what the new terms add) |" in report
    # a control arm without expansion has nothing to measure
    with pytest.raises(WMEmbError, match="control = true measures what expansion adds, so it needs expand = true"):
        Pipeline(dataclasses.replace(config, expand=False)).check()
    expand = json.loads((tmp_path / "work" / "state.json").read_text(encoding="utf-8"))["expand"]["summary"]
    coverage = {item["term"]: item for item in expand["coverage"]}
    assert coverage["革兰氏阳性菌"]["passages"] > 0 and coverage["鞭毛马达"] == {
        "term": "鞭毛马达",
        "queries": 0,
        "passages": 0,
    }
    uncovered = [r.message for r in caplog.records if "occur in no training question" in r.message]
    assert len(uncovered) == 1 and "1 of 3 added terms" in uncovered[0] and "'鞭毛马达'" in uncovered[0]
    assert expand["adapt"]["epochs"] == 1 and expand["adapt"]["new_token_targets"] > 0
    # every stage's summary reads back typed (Pipeline.summaries) and writes the JSON it was read from
    summaries = Pipeline(config).summaries()
    for stage in ("split", "prepare", "finetune", "expand", "control", "evaluate"):
        assert json.loads(json.dumps(getattr(summaries, stage)().to_json())) == state[stage]["summary"], stage
    assert [term.term for term in summaries.expand().expand.added] == ["革兰氏阳性菌", "lipopolysaccharide", "鞭毛马达"]
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "work" / "models" / "expanded")
    assert tokenizer.tokenize("细菌中革兰氏阳性菌的壁") == ["细", "菌", "中", "革兰氏阳性菌", "的", "壁"]


@pytest.mark.slow
def test_expansion_with_no_domain_terms_found_ships_base_or_finetuned(tmp_path, tiny_bert, server, caplog, monkeypatch):
    """Expansion is on by default, so a corpus in which vocab suggest finds nothing must still finish."""
    monkeypatch.setattr("wmemb.pipeline.suggest_terms", lambda *args, **kwargs: SuggestResult([], 0))
    config = config_for(tmp_path, tiny_bert, server, expand=True)
    with caplog.at_level(logging.WARNING, logger="wmemb"):
        assert actions(Pipeline(config).run())["expand"] == "ran"
    assert any("found no domain terms" in record.message for record in caplog.records)
    metrics = json.loads((tmp_path / "work" / "report" / "metrics.json").read_text(encoding="utf-8"))
    rows = [(model["label"], model["baseline"]) for model in metrics["models"]]
    assert rows == [("base", False), ("finetuned", False), ("bm25", True), ("hybrid(base)", True)] + [
        ("hybrid(finetuned)", True)
    ]
    assert final_choice(tmp_path / "work")["model"] in ("base", "finetuned")
    report = (tmp_path / "work" / "report" / "report.md").read_text(encoding="utf-8")
    assert "No terms were added in this run" in report
    assert set(actions(Pipeline(config).run()).values()) == {"skipped"}  # the copy counts as the stage's output


def test_config_errors_name_the_key_or_file(tmp_path, tiny_bert, server):
    config_file = tmp_path / "run.toml"
    config_file.write_text('corpus = ["book.txt"]\nchunk_size = 3\nllm_name = "x"\n', encoding="utf-8")
    write_corpus(tmp_path)
    with pytest.raises(WMEmbError, match="unknown setting.*chunk_size, llm_name"):
        PipelineConfig.load(config_file)
    with pytest.raises(WMEmbError, match="corpus .*missing.txt: no such file"):
        PipelineConfig.load(None, {"corpus": [str(tmp_path / "missing.txt")]})
    with pytest.raises(WMEmbError, match='--epochs: epochs = "two": input should be a valid integer'):
        PipelineConfig.load(None, {"corpus": [str(tmp_path / "book.txt")], "epochs": "two"})
    with pytest.raises(WMEmbError, match="model folder not found"):
        Pipeline(config_for(tmp_path, tmp_path / "no-model", server)).run()
    assert not (tmp_path / "work" / "nodes").exists()


@pytest.mark.slow
def test_cli_run_takes_settings_as_flags(tmp_path, tiny_bert, server, capsys):
    from typer.testing import CliRunner

    from wmemb.cli import app

    corpus = write_corpus(tmp_path)
    config_file = tmp_path / "run.toml"
    config_file.write_text(
        f'corpus = ["book.txt"]\nmodel = "{tiny_bert}"\nworkdir = "work"\nname = "book"\n'
        f'llm = "openai"\nbase_url = ["{server.base_url}"]\nllm_model = "test-model"\n',
        encoding="utf-8",
    )
    # a learning rate too small to move any fp32 weight: fine-tuning cannot help, so the base model is kept
    result = CliRunner().invoke(
        app, ["run", str(config_file), "--chunk-tokens", "64", "--epochs", "1", "--batch-size", "8", "--lr", "1e-12"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "work" / "report" / "report.html").is_file() and corpus.is_file()
    state = json.loads((tmp_path / "work" / "state.json").read_text(encoding="utf-8"))
    assert state["finetune"]["summary"]["settings"]["epochs"] == 1
    assert final_choice(tmp_path / "work")["model"] == "base"
    kept = "No trained model beat the base beyond noise on the"
    output = " ".join(result.output.split())
    assert "The run's final model is the base model" in output and kept in output and "base model is kept" in output
    assert state["evaluate"]["summary"]["final"]["verdict"] in output  # the stage's own choice, not a re-derived one
    assert kept in (tmp_path / "work" / "report" / "report.md").read_text(encoding="utf-8")


def test_expand_terms_come_from_a_reviewed_suggest_tsv(tmp_path):
    corpus = write_corpus(tmp_path)
    terms = tmp_path / "terms.tsv"
    terms.write_text(
        "term\tfrequency\tpieces\ttokens_saved\texample\n革兰氏阳性菌\t7\t6\t35\t革兰氏阳性菌的细胞壁很厚。\n"
        "# dropped on review\nlipopolysaccharide\t3\t5\t12\tan outer membrane with lipopolysaccharide\n",
        encoding="utf-8",
    )
    config = PipelineConfig.load(None, {"corpus": [str(corpus)], "expand": True, "expand_terms_file": str(terms)})
    assert Pipeline(config).expand_terms() == ["革兰氏阳性菌", "lipopolysaccharide"]


@pytest.mark.slow
@needs_onnx
def test_the_export_stage_exports_the_final_model_and_reruns_alone(tmp_path, tiny_bert, server):
    records = Pipeline(config_for(tmp_path, tiny_bert, server, export=True, export_quantize="int8")).run()
    assert actions(records) == {stage: "ran" for stage in ("split", "prepare", "finetune", "evaluate", "export")}
    exported = tmp_path / "work" / "models" / "exported"
    info = json.loads((exported / "wmemb_export.json").read_text(encoding="utf-8"))
    assert Path(info["source"]) == (tmp_path / "work" / "models" / "final").resolve()
    assert info["file_name"] == "onnx/model_qint8_quantized.onnx" and (exported / info["file_name"]).is_file()
    # the report's usage section loads the exported folder; its code runs as printed
    usage = (tmp_path / "work" / "report" / "report.md").read_text(encoding="utf-8").partition("## Use the model")[2]
    code = re.search(r"```python\n(from wmemb.export import load_exported\n.*?)```", usage, re.S).group(1)
    assert repr(str(exported.resolve())) in code
    namespace: dict = {}
    exec(code, namespace)
    assert namespace["queries"].shape == (1, namespace["model"].get_embedding_dimension())

    records = Pipeline(config_for(tmp_path, tiny_bert, server, export=True)).run()  # fp32 now
    assert [record.stage for record in records if record.action == "ran"] == ["export"]
    assert json.loads((exported / "wmemb_export.json").read_text(encoding="utf-8"))["quantize"] is None


def test_the_export_stage_needs_its_extra_before_anything_runs(tmp_path, tiny_bert, server, monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "onnxscript" else real_find_spec(name, *a)
    )
    with pytest.raises(WMEmbError, match=r"^export needs onnxscript \(not installed here\); run `pip install"):
        Pipeline(config_for(tmp_path, tiny_bert, server, export=True)).run()
    assert not (tmp_path / "work" / "nodes").exists()
