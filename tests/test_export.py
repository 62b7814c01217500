"""`wmemb export`: ONNX / OpenVINO (fp32, int8) folders that reload with the model's prompts and rank a small
Chinese + English retrieval set as the torch model does; `wmemb evaluate` scores them; bad input is one line."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from helpers.serve_extra import SERVE_HINT, needs_onnx
from wmemb.errors import WMEmbError

ROOT = Path(__file__).parents[1]
ZH_QUERY_PROMPT = "为这个句子生成表示以用于检索相关文章："


def _missing(*modules: str) -> list[str]:
    return [module for module in modules if importlib.util.find_spec(module) is None]


needs_openvino = pytest.mark.skipif(
    bool(_missing("onnx", "onnxscript", "onnxruntime", "openvino", "nncf")), reason=SERVE_HINT
)

CORPUS = {
    "zh-1": "革兰氏阳性菌的细胞壁较厚，含有大量肽聚糖。",
    "zh-2": "芽孢杆菌在不利条件下形成芽孢。",
    "zh-3": "病毒没有细胞结构，必须在细胞内生长。",
    "zh-4": "用户可以在系统中安装新的软件包。",
    "zh-5": "北京是中国的首都，也是文化中心。",
    "zh-6": "温度升高时，酶的活性会发生变化。",
    "en-1": "Gram positive bacteria have a thick cell wall.",
    "en-2": "The virus has no cell and needs a host cell.",
    "en-3": "Install a package on a debian linux system with the shell command.",
    "en-4": "A root user can change any file on the system.",
    "en-5": "The membrane protein of the cell is studied in this passage.",
    "en-6": "Spore forming bacteria can survive when conditions are bad.",
}
QUERIES = {
    "q-zh-1": "什么是革兰氏阳性菌的细胞壁？",
    "q-zh-2": "芽孢杆菌为什么形成芽孢？",
    "q-zh-3": "如何在系统中安装软件包？",
    "q-en-1": "what is the cell wall of gram positive bacteria",
    "q-en-2": "how do I install a package on debian linux",
    "q-en-3": "who can change a file as root",
}
RELEVANT = {
    "q-zh-1": ["zh-1"],
    "q-zh-2": ["zh-2"],
    "q-zh-3": ["zh-4"],
    "q-en-1": ["en-1"],
    "q-en-2": ["en-3"],
    "q-en-3": ["en-4"],
}
TOP_K = 3


@pytest.fixture(scope="module")
def prompted_model(tiny_bert, tmp_path_factory) -> Path:
    """The tiny Chinese + English BERT with a query instruction in its prompts, as `wmemb finetune` saves one."""
    from sentence_transformers import SentenceTransformer

    folder = tmp_path_factory.mktemp("prompted") / "model"
    SentenceTransformer(str(tiny_bert), prompts={"query": ZH_QUERY_PROMPT, "document": ""}).save(str(folder))
    return folder


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "retrieval_dataset.json"
    data = {"queries": QUERIES, "corpus": CORPUS, "relevant_docs": RELEVANT, "mode": "text"}
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def _scores(model) -> np.ndarray:
    """Query x passage cosine scores; `encode_query` applies the model's own query prompt."""
    queries = model.encode_query(list(QUERIES.values()), convert_to_numpy=True)
    passages = model.encode_document(list(CORPUS.values()), convert_to_numpy=True)
    return np.asarray(model.similarity(queries, passages))


def _assert_same_top_k(reference: np.ndarray, exported: np.ndarray, tolerance: float) -> None:
    """Each query's top-k by the exported model is the torch model's top-k, in order, up to ties: where
    the two differ at a rank, the torch scores of the two passages there are within `tolerance`."""
    for row, (ref, got) in enumerate(zip(reference, exported)):
        ref_top, got_top = np.argsort(-ref)[:TOP_K], np.argsort(-got)[:TOP_K]
        gaps = np.abs(ref[got_top] - ref[ref_top])
        assert (gaps <= tolerance).all(), f"query {row}: top-{TOP_K} {got_top} vs torch {ref_top} (gaps {gaps})"
    assert np.abs(reference - exported).max() <= tolerance


def _leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.startswith("."))


@needs_onnx
@pytest.mark.parametrize("quantize", [None, "int8"], ids=["fp32", "int8"])
def test_onnx_export_ranks_as_the_torch_model_and_keeps_the_prompt(prompted_model, tmp_path, quantize):
    from sentence_transformers import SentenceTransformer

    from wmemb.export import export_model, load_exported
    from wmemb.models import query_prompt

    out = tmp_path / "exported"
    result = export_model(prompted_model, out, format="onnx", quantize=quantize)
    expected_file = "onnx/model_qint8_quantized.onnx" if quantize else "onnx/model.onnx"
    assert result.file_name == expected_file and (out / expected_file).is_file()
    assert sorted(path.relative_to(out).as_posix() for path in out.glob("onnx/*")) == [expected_file]
    assert not (out / "model.safetensors").exists() and _leftovers(tmp_path) == []
    assert result.min_cosine > (0.999 if quantize is None else 0.95)
    info = json.loads((out / "wmemb_export.json").read_text(encoding="utf-8"))
    assert info["backend"] == "onnx" and info["file_name"] == expected_file and info["quantize"] == quantize
    # ONNX Runtime's fusions found the BERT's attention: one op per layer, which int8 quantises as a whole
    assert info["fused_ops"]["Attention"] == 2 and info["fused_ops"]["EmbedLayerNormalization"] == 1
    if quantize:
        import onnx

        ops = {node.op_type for node in onnx.load(str(out / expected_file)).graph.node}
        assert "QAttention" in ops and "Attention" not in ops

    # the query instruction travels with the folder, where sentence-transformers and wmemb read it
    assert query_prompt(out) == ZH_QUERY_PROMPT
    exported = load_exported(out)
    assert exported.prompts["query"] == ZH_QUERY_PROMPT
    torch_model = SentenceTransformer(str(prompted_model))
    _assert_same_top_k(_scores(torch_model), _scores(exported), tolerance=1e-4 if quantize is None else 0.03)


@needs_onnx
def test_evaluate_scores_an_exported_folder_as_the_torch_model(prompted_model, dataset, tmp_path):
    from wmemb.evaluate import evaluate_models
    from wmemb.export import export_model
    from wmemb.models import load_sentence_model

    out = tmp_path / "onnx-model"
    export_model(prompted_model, out, format="onnx")
    loaded = load_sentence_model(out)
    assert type(loaded.model[0]).__name__ == "SessionTransformer" and loaded.model[0].backend == "onnx"
    result = evaluate_models([str(prompted_model), str(out)], dataset, show_progress=False)
    torch_scores, onnx_scores = result.models
    assert onnx_scores.query_prompt == torch_scores.query_prompt == ZH_QUERY_PROMPT
    for metric, value in torch_scores.metrics.items():
        assert onnx_scores.metrics[metric] == pytest.approx(value, abs=1e-6), metric


@needs_onnx
def test_the_cli_exports_and_evaluate_reads_the_folder(prompted_model, dataset, tmp_path, run):
    out = tmp_path / "served"
    code, err = run("export", str(prompted_model), str(out), "--format", "onnx", "--quantize", "int8")
    assert code == 0, err
    assert "onnx/model_qint8_quantized.onnx" in err and (out / "onnx" / "model_qint8_quantized.onnx").is_file()
    code, err = run("evaluate", "--dataset", str(dataset), "-m", str(out), "-o", str(tmp_path / "report"))
    assert code == 0, err
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["models"][0]["path"] == str(out) and metrics["models"][0]["query_prompt"] == ZH_QUERY_PROMPT


@needs_openvino
@pytest.mark.parametrize("quantize", [None, "int8"], ids=["fp32", "int8"])
def test_openvino_export_ranks_as_the_torch_model(prompted_model, tmp_path, quantize):
    from sentence_transformers import SentenceTransformer

    from wmemb.export import export_model
    from wmemb.models import load_sentence_model

    out = tmp_path / "ov"
    result = export_model(prompted_model, out, format="openvino", quantize=quantize)
    xml = "openvino/openvino_model_qint8_quantized.xml" if quantize else "openvino/openvino_model.xml"
    assert result.file_name == xml and (out / xml).is_file() and (out / xml).with_suffix(".bin").is_file()
    assert not (out / "onnx").exists() and not (out / "model.safetensors").exists()
    exported = load_sentence_model(out).model
    assert exported[0].backend == "openvino" and exported.prompts["query"] == ZH_QUERY_PROMPT
    torch_model = SentenceTransformer(str(prompted_model))
    _assert_same_top_k(_scores(torch_model), _scores(exported), tolerance=1e-4 if quantize is None else 0.03)


# --- bad input: one line, exit 2, nothing written ------------------------------------------------------------


def _one_line_error(code: int, err: str) -> str:
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--format", "tflite"], "--format tflite: unknown export format; choose onnx or openvino"),
        (["--quantize", "int4"], "--quantize int4: unknown quantisation; choose int8"),
        (["--format", "onnx", "--quantize", "fp16"], "--quantize fp16: unknown quantisation"),
    ],
)
def test_unknown_format_or_quantisation(tiny_bert, tmp_path, run, flags, message):
    out = tmp_path / "out"
    line = _one_line_error(*run("export", str(tiny_bert), str(out), *flags))
    assert message in line and not out.exists() and _leftovers(tmp_path) == []


def test_a_folder_that_is_not_a_model(tmp_path, run):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "readme.txt").write_text("not a model", encoding="utf-8")
    out = tmp_path / "out"
    line = _one_line_error(*run("export", str(folder), str(out)))
    assert "not a sentence-transformers or transformers model folder" in line and not out.exists()


@needs_onnx
def test_an_exported_folder_is_not_exported_again(prompted_model, tmp_path, run):
    from wmemb.export import export_model

    first = tmp_path / "first"
    export_model(prompted_model, first)
    line = _one_line_error(*run("export", str(first), str(tmp_path / "second")))
    assert "already an exported onnx model" in line and not (tmp_path / "second").exists()


def test_an_existing_output_needs_overwrite(tiny_bert, tmp_path, run):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine", encoding="utf-8")
    line = _one_line_error(*run("export", str(tiny_bert), str(out)))
    assert line.endswith("output folder exists; pass --overwrite to replace it")
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_the_output_cannot_be_the_model(tiny_bert, tmp_path, run):
    model = tmp_path / "model"
    shutil.copytree(tiny_bert, model)
    before = sorted(p.relative_to(model).as_posix() for p in model.rglob("*"))
    line = _one_line_error(*run("export", str(model), str(model), "--overwrite"))
    assert "would write over the input MODEL" in line
    assert sorted(p.relative_to(model).as_posix() for p in model.rglob("*")) == before


@pytest.mark.parametrize(("absent", "fmt"), [("onnxruntime", "onnx"), ("onnxscript", "onnx"), ("nncf", "openvino")])
def test_a_missing_extra_names_the_install_command(tiny_bert, tmp_path, run, monkeypatch, absent, fmt):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == absent else real_find_spec(name, *a)
    )
    out = tmp_path / "out"
    line = _one_line_error(*run("export", str(tiny_bert), str(out), "--format", fmt))
    assert f"export --format {fmt} needs {absent} (not installed here); run `pip install 'wmemb[serve]'`" in line
    assert not out.exists()


def test_loading_an_exported_folder_without_its_runtime_names_the_install_command(tmp_path, monkeypatch):
    from wmemb.export import load_exported

    folder = tmp_path / "exported"
    (folder / "onnx").mkdir(parents=True)
    (folder / "onnx" / "model.onnx").write_bytes(b"")
    (folder / "modules.json").write_text("[]", encoding="utf-8")
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real_find_spec(name, *a)
    )
    with pytest.raises(
        WMEmbError, match=re.escape("needs onnxruntime (not installed here); run `pip install 'wmemb[serve]'`")
    ):
        load_exported(folder)


@needs_onnx
def test_a_failed_export_leaves_nothing_half_written(prompted_model, tmp_path, run, monkeypatch):
    """A failure after files were written: no OUT, no temporary sibling; with --overwrite the old OUT stays whole."""
    import wmemb.export

    def broken(*args, **kwargs):
        raise WMEmbError("the exporter failed")

    monkeypatch.setattr(wmemb.export, "_quantize_onnx", broken)
    out = tmp_path / "out"
    code, err = run("export", str(prompted_model), str(out), "--quantize", "int8")
    assert code == 2 and err.splitlines()[-1] == "error: the exporter failed" and "Traceback" not in err
    assert not out.exists() and _leftovers(tmp_path) == []

    out.mkdir()
    (out / "old.txt").write_text("previous export", encoding="utf-8")
    code, err = run("export", str(prompted_model), str(out), "--quantize", "int8", "--overwrite")
    assert code == 2 and err.splitlines()[-1] == "error: the exporter failed"
    assert sorted(p.name for p in out.iterdir()) == ["old.txt"] and _leftovers(tmp_path) == []


def test_the_extra_is_declared_and_set_up():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    serve = " ".join(project["optional-dependencies"]["serve"])
    for package in ("onnx", "onnxruntime", "onnxscript", "openvino", "nncf"):
        assert re.search(rf"(^| ){package}[<>=]", serve), package
    assert "serve" in (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8")


@needs_onnx
def test_the_readme_python_examples_run(prompted_model, tmp_path, monkeypatch, capsys):
    """The export section's Python blocks (sentence-transformers and llama_index use), as written."""
    from wmemb.export import export_model

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("\n## export\n") : readme.index("\n## Measured here")]
    blocks = re.findall(r"^```python\n(.*?)^```", section, re.S | re.M)
    assert len(blocks) == 2 and all("models/book-onnx-int8" in block for block in blocks)
    if importlib.util.find_spec("llama_index") is None:
        blocks = blocks[:1]  # llama-index-core comes with the [test] extra
    monkeypatch.chdir(tmp_path)
    export_model(prompted_model, tmp_path / "models" / "book-onnx-int8", quantize="int8")
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {"__name__": "readme_example"})
    printed = capsys.readouterr().out.split()
    assert printed[-1] == "32"  # the tiny model's embedding size, from the llama_index example
