"""A finished bilingual `wmemb run` (tiny BERT, a real local OpenAI-protocol server as the LLM)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.openai_server import openai_server
from helpers.pipeline_inputs import CHINESE_NAME, with_a_non_question, write_corpus
from helpers.serve_extra import ONNX_INSTALLED
from wmemb.pipeline import Pipeline, PipelineConfig


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tiny_bert) -> Path:
    """The working folder of a finished run with vocabulary expansion; its report is what the tests read."""
    folder = tmp_path_factory.mktemp("run")
    with openai_server(reply=with_a_non_question) as server:
        config = PipelineConfig.load(
            None,
            {
                "corpus": [str(write_corpus(folder, chapters=10, facts=8, per_paragraph=3))],
                "model": str(tiny_bert),
                "workdir": str(folder / "work"),
                "name": CHINESE_NAME,
                "chunk_tokens": 64,
                "llm": "openai",
                "base_url": [server.base_url],
                "llm_model": "test-model",
                "epochs": 2,
                "batch_size": 8,
                "lr": 1e-3,  # a tiny random model must move far enough to change rankings
                "expand": True,
                "expand_terms": ["革兰氏阳性菌", "细胞壁", "lipopolysaccharide"],
                "expand_epochs": 1,
                "matryoshka_dims": [8, 16],  # of the tiny BERT's 32
                "serve_check": ONNX_INSTALLED,
            },
        )
        Pipeline(config).run()
    return folder / "work"
