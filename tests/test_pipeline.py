"""The pipeline end to end: tiny corpus, tiny model, a real local OpenAI-protocol server as the LLM."""

import json
import logging
import re
import sys
from pathlib import Path

import pytest

from wmemb.errors import WMEmbError
from wmemb.pipeline import Pipeline, PipelineConfig

sys.path.insert(0, str(Path(__file__).parent))
from openai_server import openai_server  # noqa: E402

EN_FACTS = [
    "Spores survive heat and drying for years.",
    "Gram-positive bacteria keep crystal violet in a thick wall.",
    "Gram-negative bacteria have an outer membrane with lipopolysaccharide.",
    "Viruses need a host cell to copy themselves.",
    "Penicillin blocks the building of the cell wall.",
    "Yeast ferments sugar into alcohol and carbon dioxide.",
    "Plasmids carry genes for antibiotic resistance.",
    "Flagella let many bacteria swim toward nutrients.",
    "Archaea live in hot springs and salty lakes.",
    "Biofilms protect colonies from disinfectants.",
    "Mycelium is the branching body of a fungus.",
    "Endotoxins are released when the outer membrane breaks.",
]
ZH_FACTS = [
    "芽孢能耐高温和干燥。",
    "革兰氏阳性菌的细胞壁很厚。",
    "革兰氏阴性菌有外膜。",
    "病毒必须在细胞内复制。",
    "青霉素阻止细胞壁合成。",
    "酵母菌把糖发酵成酒精。",
    "质粒携带抗药基因。",
    "鞭毛让细菌游向养分。",
    "古菌生活在温泉和盐湖中。",
    "生物膜保护菌落不被消毒剂杀死。",
    "菌丝是真菌的分枝结构。",
    "内毒素在外膜破裂时释放。",
]


def write_corpus(folder: Path, variant: str = "") -> Path:
    corpus = folder / "book.txt"
    paragraphs = []
    for i in range(12):
        order = EN_FACTS[i:] + EN_FACTS[:i]
        paragraphs.append(f"Chapter {i}{variant}. " + " ".join(order[:4]) + f" Experiment {i} took {i + 2} days.")
        paragraphs.append(f"第{i}章。" + "".join((ZH_FACTS[i:] + ZH_FACTS[:i])[:4]) + f"实验{i}用了{i + 2}天。")
    corpus.write_text("\n\n".join(paragraphs), encoding="utf-8")
    return corpus


def distinct_questions(prompt: str) -> str:
    """Questions that name words from different places of the passage (so none is a copied span)."""
    passage = re.search(r"(?:Context:|材料：)\s*\n(.*?)\n\n", prompt, re.S).group(1)
    words = re.findall(r"[A-Za-z]{4,}", passage)
    if len(words) >= 8:
        return (
            f"1. How is {words[2]} related to {words[7]}?\n2. What does the text say about {words[5]} and {words[-1]}?"
        )
    han = re.findall(r"[\u4e00-\u9fff]", passage)
    return f"问题1：{''.join(han[3:5])}与{''.join(han[10:12])}有什么关系？\n问题2：文中{''.join(han[-6:-4])}指什么？"


@pytest.fixture
def server():
    with openai_server(reply=distinct_questions) as running:
        yield running


def config_for(tmp_path: Path, tiny_bert: Path, server, **extra) -> PipelineConfig:
    settings = {
        "corpus": [str(write_corpus(tmp_path) if not (tmp_path / "book.txt").exists() else tmp_path / "book.txt")],
        "model": str(tiny_bert),
        "workdir": str(tmp_path / "work"),
        "name": "book",
        "chunk_tokens": 64,
        "llm": "openai",
        "base_url": [server.base_url],
        "llm_model": "test-model",
        "epochs": 1,
        "batch_size": 8,
        **extra,
    }
    return PipelineConfig.load(None, settings)


def actions(records) -> dict[str, str]:
    return {record.stage: record.action for record in records}


def final_choice(workdir: Path) -> dict:
    """The evaluate stage's choice, checked against metrics.json (highest NDCG@10, ties to the simpler model)
    and against models/final."""
    state = json.loads((workdir / "state.json").read_text(encoding="utf-8"))
    final = state["evaluate"]["summary"]["final"]
    models = json.loads((workdir / "report" / "metrics.json").read_text(encoding="utf-8"))["models"]
    scores = [model["metrics"]["ndcg@10"] for model in models]
    assert final["model"] == models[scores.index(max(scores))]["label"]  # index(): the first, simplest, of equals
    assert (workdir / "models" / "final").resolve() == Path(final["path"]).resolve()
    report = (workdir / "report" / "report.md").read_text(encoding="utf-8")
    assert f"The run's final model is the {final['model']} model" in report
    assert "were written by" in report  # the validation questions are said to be synthetic
    summary = json.loads((workdir / "report" / "summary.json").read_text(encoding="utf-8"))
    assert summary["final_model"] == final["model"]
    return final


def test_pipeline_runs_skips_and_reruns_what_changed(tmp_path, tiny_bert, server):
    pipeline = Pipeline(config_for(tmp_path, tiny_bert, server))
    assert actions(pipeline.run()) == {"split": "ran", "prepare": "ran", "finetune": "ran", "evaluate": "ran"}
    report = tmp_path / "work" / "report"
    metrics = json.loads((report / "metrics.json").read_text(encoding="utf-8"))
    assert [model["label"] for model in metrics["models"]] == ["base", "finetuned"]
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


def test_pipeline_with_expansion_evaluates_three_models(tmp_path, tiny_bert, server, caplog):
    config = config_for(
        tmp_path,
        tiny_bert,
        server,
        expand=True,
        expand_terms=["革兰氏阳性菌", "lipopolysaccharide", "鞭毛马达"],
        expand_epochs=1,
        expand_adapt_epochs=1,
    )
    with caplog.at_level(logging.WARNING, logger="wmemb"):
        Pipeline(config).run()
    metrics = json.loads((tmp_path / "work" / "report" / "metrics.json").read_text(encoding="utf-8"))
    assert [model["label"] for model in metrics["models"]] == ["base", "finetuned", "expanded"]
    final_choice(tmp_path / "work")
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
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "work" / "models" / "expanded")
    assert tokenizer.tokenize("细菌中革兰氏阳性菌的壁") == ["细", "菌", "中", "革兰氏阳性菌", "的", "壁"]


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
    kept = "Fine-tuning did not beat the base model on the validation questions"
    output = " ".join(result.output.split())
    assert "The run's final model is the base model" in output and kept in output and "base model is kept" in output
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
