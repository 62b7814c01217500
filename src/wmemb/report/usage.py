"""The run report's "Use the model" section: how to load the final model (sentence-transformers, llama_index,
LangChain), serve it on a CPU, and reproduce the run (its settings as flags and as a table)."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wmemb.evaluate.choice import TEMPLATE_FILE, Judgement
from wmemb.records import QADataset
from wmemb.render.document import Block, Code, Heading, Section, Table, Text, snippet


@dataclass(frozen=True)
class RunSettings:
    values: dict[str, Any]  # every setting of the run
    defaults: dict[str, Any]  # their defaults: the reproducing command names only what differs


def reproduce_command(settings: RunSettings) -> str:
    """`wmemb run` with every setting that differs from its default, as flags."""
    parts = ["wmemb", "run"]
    for key, value in settings.values.items():
        if key in settings.defaults and settings.defaults[key] == value:
            continue
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            parts.append(flag if value else "--no-" + key.replace("_", "-"))
        elif isinstance(value, list):
            for item in value:
                parts += [flag, str(item)]
        elif value is not None:
            parts += [flag, str(value)]
    return shlex.join(parts)


def serving_blocks(final: str, exported: Path) -> list[Block]:
    """How to serve the final model on a CPU: the export stage's folder, or the command that makes one.

    Both, whatever `export` says: the report is written by evaluate, which runs before export and does not
    rerun when `export` changes, so it must not depend on that setting.
    """
    path = str(exported.resolve())
    code = "\n".join(
        [
            "from wmemb.export import load_exported",
            "",
            f"model = load_exported({path!r})  # a SentenceTransformer running ONNX Runtime or OpenVINO",
            "queries = model.encode_query(['your question'])  # the saved query prompt is applied",
        ]
    )
    return [
        Heading("Serve it faster on a CPU"),
        Text(
            f"With `export = true` (`pip install 'wmemb[serve]'`), `wmemb run` writes the final model as ONNX to "
            f"`{path}` after this report (`wmemb_export.json` there says how close it came to the torch model). "
            "Or export it yourself, with int8 weights, and check it on your questions:"
        ),
        Code(
            f"wmemb export {shlex.quote(final)} {shlex.quote(path)} --quantize int8\n"
            f"wmemb evaluate --model {shlex.quote(final)} --model {shlex.quote(path)} --dataset {TEMPLATE_FILE}",
            "sh",
        ),
        Text(
            'Load the exported folder with `load_exported` (sentence-transformers\' own `backend="onnx"` loading '
            "needs Optimum, which does not install beside transformers 5 yet; `load_exported` runs the file in "
            "sentence-transformers' own modules):"
        ),
        Code(code, "python"),
    ]


def usage_section(judgement: Judgement, val: QADataset, settings: RunSettings, exported: Path) -> Section:
    final = judgement.choice.model
    path = str(Path(final.path).resolve())
    prompt = final.query_prompt or ""
    query_id = next(iter(val.queries), None)
    query = val.queries[query_id] if query_id else "your question"
    passage = snippet(val.corpus[val.relevant_docs[query_id][0]], 80) if query_id else "a passage"
    prompt_note = f"adds the saved query prompt {prompt!r}" if prompt else "this model has no query prompt"
    sentence_transformers = "\n".join(
        [
            "from sentence_transformers import SentenceTransformer",
            "",
            f"model = SentenceTransformer({path!r})",
            f"queries = model.encode_query([{query!r}])  # {prompt_note}",
            f"passages = model.encode_document([{passage!r}])",
            "print(model.similarity(queries, passages))",
        ]
    )
    llama_index = "\n".join(
        [
            "# pip install llama-index-embeddings-huggingface",
            "from llama_index.core import Settings",
            "from llama_index.embeddings.huggingface import HuggingFaceEmbedding",
            "",
            "Settings.embed_model = HuggingFaceEmbedding(",
            f"    model_name={path!r},",
            f"    query_instruction={prompt!r},  # the saved query prompt",
            '    text_instruction="",',
            ")",
        ]
    )
    langchain = "\n".join(
        [
            "# pip install langchain-huggingface",
            "from langchain_huggingface import HuggingFaceEmbeddings",
            "",
            "embeddings = HuggingFaceEmbeddings(",
            f"    model_name={path!r},",
            '    encode_kwargs={"normalize_embeddings": True},',
            '    query_encode_kwargs={"prompt_name": "query", "normalize_embeddings": True},  # the saved query prompt',
            ")",
            f"vector = embeddings.embed_query({query!r})",
        ]
    )
    blocks: list[Block] = [
        Text(f"The model to use is the {final.label} model in `{path}`."),
        Heading("sentence-transformers"),
        Code(sentence_transformers, "python"),
        Heading("llama_index"),
        Code(llama_index, "python"),
        Heading("LangChain"),
        Code(langchain, "python"),
        *serving_blocks(path, exported),
        Heading("Reproduce this run"),
        Text("Every setting that differs from its default, as flags (the same as the config file that was used):"),
        Code(reproduce_command(settings), "sh"),
        Heading("Settings"),
        Table(
            ["setting", "value", "default"],
            [
                [key, json.dumps(value, ensure_ascii=False), json.dumps(settings.defaults.get(key), ensure_ascii=False)]
                for key, value in settings.values.items()
            ],
            strong=frozenset(
                (row, 1)
                for row, (key, value) in enumerate(settings.values.items())
                if settings.defaults.get(key) != value
            ),
        ),
    ]
    return Section("Use the model", "use", blocks)
