"""Bad input to every stage command: one error line, exit status 2, no traceback, nothing written.

Each row sets up files in the test's folder and gives the command line. The command runs through
`wmemb.cli.main` (which turns a WMEmbError into `error: ...` and exit status 2) in this process. Every
file and folder under the test's folder is hashed before and after: inputs and earlier outputs must be
byte-identical, and no new file or folder may appear.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from wmemb.cli import main

EN_TEXT = (
    "Gram-positive bacteria have a thick cell wall made of peptidoglycan. "
    "The wall keeps the crystal violet stain during the Gram test, so the cells look purple. "
) * 4
ZH_TEXT = "革兰氏阳性菌的细胞壁很厚，主要由肽聚糖构成。染色以后细胞呈紫色，这是革兰氏染色的结果。" * 4
FIX_WORDS = re.compile(
    r"\b(pass|choose|save|fix|remove|rename|rerun|run|download|convert|name a|use|give|check)\b", re.IGNORECASE
)


def qa(queries=None, corpus=None, relevant=None) -> dict:
    return {
        "queries": queries if queries is not None else {"q1": "什么是革兰氏阳性菌？", "q2": "What is peptidoglycan?"},
        "corpus": corpus if corpus is not None else {"d1": ZH_TEXT, "d2": EN_TEXT},
        "relevant_docs": relevant if relevant is not None else {"q1": ["d1"], "q2": ["d2"]},
        "mode": "text",
    }


def write(path: Path, content: str | bytes | dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, dict):
        content = json.dumps(content, ensure_ascii=False)
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


class Unpickled:
    """Unpickling this creates a file named `marker`: the tree check then fails."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def pickle_file(path: Path) -> Path:
    return write(path, pickle.dumps(Unpickled(path.parent / "UNPICKLED")))


@dataclass
class Env:
    """What a row's setup gets: the test's folder, a model copy inside it, and an unwritable folder."""

    tmp: Path
    tiny_bert: Path
    read_only: Path

    def model(self, name: str = "model") -> Path:
        target = self.tmp / name
        if not target.exists():
            shutil.copytree(self.tiny_bert, target)
        return target

    def dataset(self, content: dict | str | bytes | None = None, name: str = "t_train_dataset.json") -> Path:
        return write(self.tmp / name, qa() if content is None else content)

    def nodes(self, lines: list[dict], name: str = "t_val_nodes.jsonl") -> Path:
        return write(self.tmp / name, "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))

    def folder(self, name: str) -> Path:
        (self.tmp / name).mkdir(parents=True)
        return self.tmp / name

    def hard_link(self, target: Path, name: str) -> Path:
        os.link(target, self.tmp / name)
        return self.tmp / name

    def corpus(self, name: str = "book.txt") -> Path:
        return write(self.tmp / name, EN_TEXT + "\n\n" + ZH_TEXT + "\n")


@dataclass
class Row:
    id: str
    argv: Callable[[Env], list[str]]
    message: str  # regex the error line must match (it names the file or setting)


def _damage_json(model: Path, name: str) -> Path:
    write(model / name, '{"max_seq_length": 128,')
    return model


def _truncate_weights(model: Path) -> Path:
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    return model


def _beir(env: Env, corpus_lines: str) -> Path:
    folder = env.tmp / "beir"
    write(folder / "corpus.jsonl", corpus_lines)
    write(folder / "queries.jsonl", '{"_id": "q1", "text": "What is peptidoglycan?"}\n')
    write(folder / "qrels" / "test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    return folder


def _s(path: Path) -> str:
    return str(path)


ROWS = [
    # --- split ---
    Row(
        "split-corrupt-sentence-bert-config",
        lambda e: [
            "split",
            _s(e.corpus()),
            "-o",
            _s(e.tmp / "out"),
            "--model",
            _s(_damage_json(e.model(), "sentence_bert_config.json")),
        ],
        r"sentence_bert_config\.json: not valid JSON .*download or save the model again",
    ),
    Row(
        "split-name-with-folder",
        lambda e: ["split", _s(e.corpus()), "-o", _s(e.tmp / "out"), "--name", "a/b"],
        r"--name 'a/b': must be a plain file name",
    ),
    Row(
        "split-name-parent",
        lambda e: ["split", _s(e.corpus()), "-o", _s(e.tmp / "out"), "--name", "../x"],
        r"--name '\.\./x': must be a plain file name",
    ),
    Row(
        "split-output-is-a-file",
        lambda e: ["split", _s(e.corpus()), "-o", _s(write(e.tmp / "out.txt", "x"))],
        r"out\.txt: -o/--output names a file; pass a folder",
    ),
    Row(
        "split-output-read-only",
        lambda e: ["split", _s(e.corpus()), "-o", _s(e.read_only / "out")],
        r"cannot create the output files, .* not writable",
    ),
    Row(
        "split-output-would-overwrite-input",
        lambda e: [
            "split",
            _s(write(e.tmp / "out" / "b_train_nodes.jsonl", EN_TEXT)),
            "-o",
            _s(e.tmp / "out"),
            "--name",
            "b",
        ],
        r"b_train_nodes\.jsonl: this output would write over the input",
    ),
    Row("split-empty-file", lambda e: ["split", _s(write(e.tmp / "e.txt", "")), "-o", _s(e.tmp / "o")], r"e\.txt"),
    Row(
        "split-binary-file",
        lambda e: ["split", _s(write(e.tmp / "b.txt", b"\x00\x01\x02" * 100)), "-o", _s(e.tmp / "o")],
        r"b\.txt: .*binary",
    ),
    Row("split-missing-input", lambda e: ["split", _s(e.tmp / "nope.txt"), "-o", _s(e.tmp / "o")], r"nope\.txt"),
    Row(
        "split-no-tokenizer",
        lambda e: ["split", _s(e.corpus()), "-o", _s(e.tmp / "o"), "--model", _s(write(e.tmp / "m" / "x", "x").parent)],
        r"m: not a sentence|m: no tokenizer|model folder",
    ),
    # --- import-dataset ---
    Row(
        "import-output-is-a-folder",
        lambda e: ["import-dataset", _s(e.dataset()), "-o", _s(e.folder("outdir"))],
        r"outdir: -o/--output names a folder; name a file",
    ),
    Row(
        "import-output-read-only",
        lambda e: ["import-dataset", _s(e.dataset()), "-o", _s(e.read_only / "d.json")],
        r"d\.json: cannot create the output file, .* not writable",
    ),
    Row(
        "import-output-is-the-source",
        lambda e: ["import-dataset", _s(e.dataset()), "-o", _s(e.tmp / "t_train_dataset.json")],
        r"t_train_dataset\.json: this output would write over the input SOURCE",
    ),
    Row(
        "import-pickle",
        lambda e: ["import-dataset", _s(pickle_file(e.tmp / "qa.pkl")), "-o", _s(e.tmp / "d.json")],
        r"qa\.pkl: a Python pickle; wmemb never unpickles",
    ),
    Row(
        "import-pickle-named-json",
        lambda e: ["import-dataset", _s(pickle_file(e.tmp / "qa.json")), "-o", _s(e.tmp / "d.json")],
        r"qa\.json: a Python pickle",
    ),
    Row(
        "import-empty",
        lambda e: ["import-dataset", _s(e.dataset("")), "-o", _s(e.tmp / "d.json")],
        r"t_train_dataset\.json: the file is empty",
    ),
    Row(
        "import-missing",
        lambda e: ["import-dataset", _s(e.tmp / "none.json"), "-o", _s(e.tmp / "d.json")],
        r"none\.json: dataset file not found",
    ),
    Row(
        "import-folder",
        lambda e: ["import-dataset", _s(e.folder("dir")), "-o", _s(e.tmp / "d.json")],
        r"dir: is a folder, not a dataset file; pass",
    ),
    Row(
        "import-null-query",
        lambda e: ["import-dataset", _s(e.dataset(qa(queries={"q1": None, "q2": "x?"}))), "-o", _s(e.tmp / "d.json")],
        r"t_train_dataset\.json: queries\['q1'\] must be a non-empty text, got null",
    ),
    Row(
        "import-blank-passage",
        lambda e: [
            "import-dataset",
            _s(e.dataset(qa(corpus={"d1": "   ", "d2": EN_TEXT}))),
            "-o",
            _s(e.tmp / "d.json"),
        ],
        r"corpus\['d1'\] must be a non-empty text, got a blank string",
    ),
    Row(
        "import-numeric-query",
        lambda e: ["import-dataset", _s(e.dataset(qa(queries={"q1": 123, "q2": "x?"}))), "-o", _s(e.tmp / "d.json")],
        r"queries\['q1'\] must be a non-empty text, got the number 123",
    ),
    Row(
        "import-duplicate-id",
        lambda e: [
            "import-dataset",
            _s(
                e.dataset(
                    '{"queries": {"q1": "a?", "q1": "b?"}, "corpus": {"d1": "text"}, "relevant_docs": {"q1": ["d1"]}}'
                )
            ),
            "-o",
            _s(e.tmp / "d.json"),
        ],
        r"id 'q1' appears twice",
    ),
    Row(
        "import-gbk-bytes",
        lambda e: [
            "import-dataset",
            _s(e.dataset(json.dumps(qa(), ensure_ascii=False).encode("gb18030"))),
            "-o",
            _s(e.tmp / "d.json"),
        ],
        r"t_train_dataset\.json: not UTF-8 text; save it as UTF-8",
    ),
    Row(
        "import-list-not-object",
        lambda e: ["import-dataset", _s(e.dataset("[1, 2]")), "-o", _s(e.tmp / "d.json")],
        r"expected a JSON object with queries/corpus/relevant_docs",
    ),
    # --- mine ---
    Row(
        "mine-output-is-the-dataset",
        lambda e: ["mine", _s(e.dataset()), "-o", _s(e.tmp / "t_train_dataset.json")],
        r"this output would write over the input DATASET",
    ),
    Row(
        "mine-output-is-a-hard-link-of-the-dataset",
        lambda e: ["mine", _s(e.dataset()), "-o", _s(e.hard_link(e.tmp / "t_train_dataset.json", "link.json"))],
        r"link\.json: this output would write over the input DATASET",
    ),
    Row(
        "mine-output-is-a-folder",
        lambda e: ["mine", _s(e.dataset()), "-o", _s(e.folder("outdir"))],
        r"outdir: -o/--output names a folder",
    ),
    Row(
        "mine-output-read-only",
        lambda e: ["mine", _s(e.dataset()), "-o", _s(e.read_only / "m.jsonl")],
        r"m\.jsonl: cannot create the output file",
    ),
    Row(
        "mine-missing-dataset",
        lambda e: ["mine", _s(e.tmp / "none.json"), "-o", _s(e.tmp / "m.jsonl")],
        r"none\.json: dataset file not found",
    ),
    Row(
        "mine-dataset-is-a-folder",
        lambda e: ["mine", _s(e.folder("dir")), "-o", _s(e.tmp / "m.jsonl")],
        r"dir: is a folder",
    ),
    Row(
        "mine-blank-positive-keeps-earlier-output",
        lambda e: [
            "mine",
            _s(write(e.tmp / "pairs.jsonl", '{"query": "what?", "pos": ["  "]}\n')),
            "-o",
            _s(write(e.tmp / "m.jsonl", '{"query": "earlier", "pos": ["output"]}\n')),
        ],
        r"pairs\.jsonl:1: field \"pos\" must be a non-empty text, got a blank string",
    ),
    Row(
        "mine-node-file-given",
        lambda e: ["mine", _s(e.nodes([{"id": "a", "text": EN_TEXT}])), "-o", _s(e.tmp / "m.jsonl")],
        r"t_val_nodes\.jsonl:1: this is a node file from `wmemb split`, not a dataset",
    ),
    Row(
        "mine-truncated-model",
        lambda e: ["mine", _s(e.dataset()), "-o", _s(e.tmp / "m.jsonl"), "--model", _s(_truncate_weights(e.model()))],
        r"model\.safetensors: truncated or damaged",
    ),
    Row(
        "mine-jsonl-not-utf8",
        lambda e: [
            "mine",
            _s(write(e.tmp / "pairs.jsonl", '{"query": "什么是芽孢？", "pos": ["芽孢是休眠体。"]}\n'.encode("gbk"))),
            "-o",
            _s(e.tmp / "m.jsonl"),
        ],
        r"pairs\.jsonl: not UTF-8 text; save the file as UTF-8",
    ),
    Row(
        "mine-model-is-a-file",
        lambda e: ["mine", _s(e.dataset()), "-o", _s(e.tmp / "m.jsonl"), "--model", _s(write(e.tmp / "m.bin", "x"))],
        r"m\.bin: a model must be a folder",
    ),
    # --- finetune ---
    Row(
        "finetune-missing-train",
        lambda e: ["finetune", _s(e.model()), _s(e.tmp / "out"), _s(e.tmp / "none.json")],
        r"none\.json: dataset file not found",
    ),
    Row(
        "finetune-train-is-a-folder",
        lambda e: ["finetune", _s(e.model()), _s(e.tmp / "out"), _s(e.folder("dir"))],
        r"dir: is a folder",
    ),
    Row(
        "finetune-train-jsonl-is-a-folder",
        lambda e: ["finetune", _s(e.model()), _s(e.tmp / "out"), _s(e.folder("d.jsonl"))],
        r"d\.jsonl: is a folder",
    ),
    Row(
        "finetune-missing-val",
        lambda e: ["finetune", _s(e.model()), _s(e.tmp / "out"), _s(e.dataset()), "--val", _s(e.tmp / "v.json")],
        r"v\.json: dataset file not found",
    ),
    Row(
        "finetune-val-is-a-folder",
        lambda e: [
            "finetune",
            _s(e.model()),
            _s(e.tmp / "out"),
            _s(e.dataset()),
            "--val",
            _s(e.folder("vdir")),
        ],
        r"vdir: is a folder",
    ),
    Row(
        "finetune-output-read-only",
        lambda e: ["finetune", _s(e.model()), _s(e.read_only / "out"), _s(e.dataset())],
        r"out: cannot create the output folder, .* not writable",
    ),
    Row(
        "finetune-output-is-a-file",
        lambda e: ["finetune", _s(e.model()), _s(write(e.tmp / "out", "x")), _s(e.dataset()), "--overwrite"],
        r"out: OUTPUT exists and is not a folder",
    ),
    Row(
        "finetune-train-data-inside-output",
        lambda e: [
            "finetune",
            _s(e.model()),
            _s(e.tmp / "out"),
            _s(e.dataset(name="out/t_train_dataset.json")),
            "--overwrite",
        ],
        r"out: this output would write over the input TRAIN_DATASET",
    ),
    Row(
        "finetune-null-passage",
        lambda e: [
            "finetune",
            _s(e.model()),
            _s(e.tmp / "out"),
            _s(e.dataset(qa(corpus={"d1": None, "d2": EN_TEXT}))),
        ],
        r"corpus\['d1'\] must be a non-empty text, got null",
    ),
    Row(
        "finetune-truncated-model",
        lambda e: ["finetune", _s(_truncate_weights(e.model())), _s(e.tmp / "out"), _s(e.dataset())],
        r"model\.safetensors: truncated or damaged",
    ),
    Row(
        "finetune-val-pickle",
        lambda e: [
            "finetune",
            _s(e.model()),
            _s(e.tmp / "out"),
            _s(e.dataset()),
            "--val",
            _s(pickle_file(e.tmp / "val.pkl")),
        ],
        r"val\.pkl: a Python pickle; wmemb never unpickles",
    ),
    Row(
        "finetune-relevant-doc-missing",
        lambda e: [
            "finetune",
            _s(e.model()),
            _s(e.tmp / "out"),
            _s(e.dataset(qa(relevant={"q1": ["d9"], "q2": ["d2"]}))),
        ],
        r"t_train_dataset\.json: relevant_docs names 1 doc ids missing from corpus \(first: 'd9'\)",
    ),
    Row(
        "finetune-json-cut-off",
        lambda e: ["finetune", _s(e.model()), _s(e.tmp / "out"), _s(e.dataset(json.dumps(qa())[:-20]))],
        r"t_train_dataset\.json: not valid JSON at line 1",
    ),
    # --- expand ---
    Row(
        "expand-corrupt-sentence-bert-config",
        lambda e: [
            "expand",
            _s(_damage_json(e.model(), "sentence_bert_config.json")),
            _s(e.tmp / "out"),
            "--words",
            "芽孢杆菌",
        ],
        r"sentence_bert_config\.json: not valid JSON",
    ),
    Row(
        "expand-corrupt-config",
        lambda e: ["expand", _s(_damage_json(e.model(), "config.json")), _s(e.tmp / "out"), "--words", "芽孢杆菌"],
        r"config\.json: not valid JSON",
    ),
    Row(
        "expand-truncated-weights",
        lambda e: ["expand", _s(_truncate_weights(e.model())), _s(e.tmp / "out"), "--words", "芽孢杆菌"],
        r"model\.safetensors: truncated or damaged .*download or save the model again",
    ),
    Row(
        "expand-output-is-a-file",
        lambda e: ["expand", _s(e.model()), _s(write(e.tmp / "out", "x")), "--words", "芽孢杆菌", "--overwrite"],
        r"out: OUTPUT exists and is not a folder",
    ),
    Row(
        "expand-output-read-only",
        lambda e: ["expand", _s(e.model()), _s(e.read_only / "out"), "--words", "芽孢杆菌"],
        r"cannot create the output folder",
    ),
    Row(
        "expand-words-file-inside-output",
        lambda e: [
            "expand",
            _s(e.model()),
            _s(e.tmp / "out"),
            "--words-file",
            _s(write(e.tmp / "out" / "terms.txt", "芽孢杆菌\n")),
            "--overwrite",
        ],
        r"out: this output would write over the input --words-file",
    ),
    Row(
        "expand-model-inside-output",
        lambda e: ["expand", _s(e.model("out/model")), _s(e.tmp / "out"), "--words", "芽孢杆菌", "--overwrite"],
        r"out: this output would write over the input MODEL",
    ),
    Row(
        "expand-report-texts-duplicate-id",
        lambda e: [
            "expand",
            _s(e.model()),
            _s(e.tmp / "out"),
            "--words",
            "芽孢杆菌",
            "--report-texts",
            _s(e.nodes([{"id": "n1", "text": ZH_TEXT}, {"id": "n1", "text": EN_TEXT}])),
        ],
        r"t_val_nodes\.jsonl:2: id 'n1' was already used on line 1",
    ),
    Row(
        "expand-report-texts-null-text",
        lambda e: [
            "expand",
            _s(e.model()),
            _s(e.tmp / "out"),
            "--words",
            "芽孢杆菌",
            "--report-texts",
            _s(e.nodes([{"id": "n1", "text": None}])),
        ],
        r"t_val_nodes\.jsonl:1: \"text\" of node 'n1' must be a non-empty text, got null",
    ),
    Row(
        "expand-report-texts-pickle",
        lambda e: [
            "expand",
            _s(e.model()),
            _s(e.tmp / "out"),
            "--words",
            "芽孢杆菌",
            "--report-texts",
            _s(pickle_file(e.tmp / "nodes.pkl")),
        ],
        r"nodes\.pkl: a Python pickle; wmemb never unpickles",
    ),
    Row(
        "expand-missing-words-file",
        lambda e: ["expand", _s(e.model()), _s(e.tmp / "out"), "--words-file", _s(e.tmp / "terms.txt")],
        r"terms\.txt: word file not found",
    ),
    Row(
        "expand-binary-words-file",
        lambda e: [
            "expand",
            _s(e.model()),
            _s(e.tmp / "out"),
            "--words-file",
            _s(write(e.tmp / "t.txt", b"\x00\x01" * 50)),
        ],
        r"t\.txt: .*binary",
    ),
    # --- vocab suggest ---
    Row(
        "suggest-output-is-the-corpus",
        lambda e: ["vocab", "suggest", _s(e.corpus()), "-o", _s(e.tmp / "book.txt")],
        r"book\.txt: this output would write over the input CORPUS",
    ),
    Row(
        "suggest-output-is-a-folder",
        lambda e: ["vocab", "suggest", _s(e.corpus()), "-o", _s(e.folder("outdir"))],
        r"outdir: -o/--output names a folder",
    ),
    Row(
        "suggest-output-read-only",
        lambda e: ["vocab", "suggest", _s(e.corpus()), "-o", _s(e.read_only / "terms.tsv")],
        r"terms\.tsv: cannot create the output file",
    ),
    Row(
        "suggest-nodes-with-duplicate-id",
        lambda e: [
            "vocab",
            "suggest",
            _s(e.nodes([{"id": "n1", "text": ZH_TEXT}, {"id": "n1", "text": EN_TEXT}])),
            "-o",
            _s(e.tmp / "terms.tsv"),
        ],
        r"t_val_nodes\.jsonl:2: id 'n1' was already used on line 1",
    ),
    # --- evaluate ---
    Row(
        "evaluate-output-would-overwrite-dataset",
        lambda e: [
            "evaluate",
            "-m",
            _s(e.model()),
            "--dataset",
            _s(e.dataset(name="r/metrics.json")),
            "-o",
            _s(e.tmp / "r"),
        ],
        r"metrics\.json: this output would write over the input --dataset",
    ),
    Row(
        "evaluate-output-is-a-file",
        lambda e: ["evaluate", "-m", _s(e.model()), "--dataset", _s(e.dataset()), "-o", _s(write(e.tmp / "r", "x"))],
        r"r: -o/--output names a file; pass a folder",
    ),
    Row(
        "evaluate-missing-dataset",
        lambda e: ["evaluate", "-m", _s(e.model()), "--dataset", _s(e.tmp / "val.json")],
        r"val\.json: evaluation dataset not found; pass",
    ),
    Row(
        "evaluate-corrupt-model",
        lambda e: [
            "evaluate",
            "-m",
            _s(_damage_json(e.model(), "modules.json")),
            "--dataset",
            _s(e.dataset()),
        ],
        r"modules\.json: not valid JSON",
    ),
    Row(
        "evaluate-pickle-dataset",
        lambda e: ["evaluate", "-m", _s(e.model()), "--dataset", _s(pickle_file(e.tmp / "val.pkl"))],
        r"val\.pkl: a Python pickle",
    ),
    Row(
        "evaluate-blank-query",
        lambda e: ["evaluate", "-m", _s(e.model()), "--dataset", _s(e.dataset(qa(queries={"q1": " ", "q2": "x?"})))],
        r"queries\['q1'\] must be a non-empty text, got a blank string",
    ),
    Row(
        "evaluate-beir-duplicate-id",
        lambda e: [
            "evaluate",
            "-m",
            _s(e.model()),
            "--dataset",
            _s(_beir(e, '{"_id": "d1", "text": "a"}\n{"_id": "d1", "text": "b"}\n')),
        ],
        r"corpus\.jsonl:2: _id 'd1' was already used on line 1",
    ),
    Row(
        "evaluate-beir-numeric-text",
        lambda e: ["evaluate", "-m", _s(e.model()), "--dataset", _s(_beir(e, '{"_id": "d1", "text": 5}\n'))],
        r"corpus\.jsonl:1: \"text\" of 'd1' must be a non-empty text, got the number 5",
    ),
]


@pytest.fixture()
def read_only_dir(tmp_path_factory):
    """A folder nobody may create files in: a chmod 555 folder, or /sys for root (who ignores modes)."""
    if os.geteuid() != 0:
        folder = tmp_path_factory.mktemp("read-only")
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    folder = Path("/sys")
    try:
        os.rmdir(tempfile.mkdtemp(dir=folder))
    except OSError:
        yield folder
    else:
        pytest.skip("no unwritable folder on this machine")


def snapshot(root: Path) -> dict[str, str]:
    """Every file (by content hash) and folder under `root`."""
    tree = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        tree[key] = "folder" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return tree


def run_wmemb(argv: list[str], monkeypatch, capsys) -> tuple[int, str]:
    """Run `wmemb ARGV` through main(), as the installed command does; returns (exit status, stderr)."""
    monkeypatch.setattr(sys, "argv", ["wmemb", *argv])
    with pytest.raises(SystemExit) as exited:
        main()
    return exited.value.code, capsys.readouterr().err


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(row, tmp_path, tiny_bert, read_only_dir, monkeypatch, capsys):
    work = tmp_path / "work"
    work.mkdir()
    argv = row.argv(Env(work, tiny_bert, read_only_dir))
    before = snapshot(work)
    code, err = run_wmemb(argv, monkeypatch, capsys)

    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2, err
    assert "Traceback" not in err
    assert len(errors) == 1, err
    assert re.search(row.message, errors[0]), errors[0]
    assert FIX_WORDS.search(errors[0]), f"the message says what to do: {errors[0]}"
    assert snapshot(work) == before
