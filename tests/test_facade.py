"""The original design's reference script, verbatim but for the node file names, end to end.

Its `prepare` call passes no LLM options: wmemb's default (`auto`) asks Ollama, found through
$OLLAMA_HOST as the ollama CLI does; here that is a real local server speaking Ollama's protocol
with the original design's model name, qwen:14b.
"""

import shutil
import subprocess
import sys

import pytest

from helpers.openai_server import openai_server
from helpers.pipeline_inputs import distinct_questions, write_corpus

pytestmark = pytest.mark.slow  # end to end

REFERENCE_SCRIPT = """
import os
from WMEmbModel import WMEmbModel

if __name__ == "__main__":
    base_dir = os.path.dirname(__file__)

    data_dir = os.path.join(base_dir, "data")
    weight_dir = os.path.join(base_dir, "weights")
    wegiht_path = os.path.join(weight_dir, "your_weight")

    embModel = WMEmbModel(wegiht_path)

    embModel.split(os.path.join(data_dir, "your.txt"), data_dir)

    embModel.prepare(os.path.join(data_dir, "your_train_nodes.jsonl"), os.path.join(data_dir, "your_val_nodes.jsonl"), data_dir)

    embModel.finetune(
        os.path.join(weight_dir, "your_weight"),
        os.path.join(weight_dir, "your_output_path"),
        os.path.join(data_dir, "your_train_dataset.json"),
        val_dataset_path=os.path.join(data_dir, "your_val_dataset.json"))

    embModel.expand(["革兰氏阳性菌", "lipopolysaccharide"], os.path.join(weight_dir, "your_weight"))

    embModel.finetune(
        os.path.join(weight_dir, "your_weight"),
        os.path.join(weight_dir, "your_weight"),
        os.path.join(data_dir, "your_train_dataset.json"),
        val_dataset_path=os.path.join(data_dir, "your_val_dataset.json"))
"""


def test_reference_script_runs_end_to_end(tmp_path, tiny_bert):
    (tmp_path / "data").mkdir()
    shutil.copy(write_corpus(tmp_path), tmp_path / "data" / "your.txt")
    shutil.copytree(tiny_bert, tmp_path / "weights" / "your_weight")
    script = tmp_path / "finetune.py"
    script.write_text(REFERENCE_SCRIPT, encoding="utf-8")
    with openai_server(reply=distinct_questions, model="qwen:14b") as server:
        env = {"OLLAMA_HOST": server.root_url.removeprefix("http://"), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
        done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        assert server.chat_requests() and all(r.path == "/api/chat" for r in server.chat_requests())
    for name in ("your_train_nodes.jsonl", "your_val_nodes.jsonl", "your_train_dataset.json", "your_val_dataset.json"):
        assert (tmp_path / "data" / name).is_file(), name
    from sentence_transformers import SentenceTransformer

    expanded = SentenceTransformer(str(tmp_path / "weights" / "your_weight"))
    assert "革兰氏阳性菌" in expanded.tokenizer.tokenize("细菌中革兰氏阳性菌")
    assert (tmp_path / "weights" / "your_weight" / "finetune_metrics.json").is_file()
    assert (tmp_path / "weights" / "your_output_path" / "modules.json").is_file()
    assert not [p for p in (tmp_path / "weights").iterdir() if p.name.startswith(".")]  # no temp folders left
