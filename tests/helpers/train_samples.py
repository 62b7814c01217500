"""Small bilingual (Chinese + English) retrieval datasets for the train tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from wmemb.records import read_qa_dataset

# Each topic is a distinct term; its query and passage share it, so even a tiny model can learn the pairs.
ZH_TERMS = list("菌孢芽杆阳阴兰氏革微胞膜壁核酶毒")
EN_TERMS = (
    "bacteria protein membrane wall spore virus gram linux package system file shell command root install domain"
).split()


def qa_dataset(offset: int, count: int, questions_per_passage: int = 1) -> dict:
    """llama_index layout: topic i gets a Chinese or English passage and 1-2 questions about it."""
    queries, corpus, relevant = {}, {}, {}
    for i in range(offset, offset + count):
        if i % 2:
            term = ZH_TERMS[i % len(ZH_TERMS)]
            passage = f"{term}{i}是细胞的一部分，{term}的作用很重要。"
            asks = [f"什么是{term}{i}？", f"{term}{i}有什么作用？"]
        else:
            term = EN_TERMS[i % len(EN_TERMS)]
            passage = f"The {term} {i} is part of the system and {term} matters."
            asks = [f"what is the {term} {i}?", f"why does the {term} {i} matter?"]
        corpus[f"d{i}"] = passage
        for j in range(questions_per_passage):
            queries[f"q{i}-{j}"] = asks[j]
            relevant[f"q{i}-{j}"] = [f"d{i}"]
    return {"queries": queries, "corpus": corpus, "relevant_docs": relevant, "mode": "text"}


def write_json(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return path


def ndcg_of(model_path: Path, val_path: Path, instruction: str | None) -> float:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    val = read_qa_dataset(val_path)
    evaluator = InformationRetrievalEvaluator(
        val.queries,
        val.corpus,
        {q: set(d) for q, d in val.relevant_docs.items()},
        query_prompt=instruction,
        name="check",
        write_csv=False,
        batch_size=8,
    )
    return evaluator(SentenceTransformer(str(model_path), device="cpu"))["check_cosine_ndcg@10"]


def torchrun_finetune(
    processes: int, port: int, model: Path, output: Path, train: Path, val: Path, **env: str
) -> subprocess.CompletedProcess:
    """`torchrun --nproc_per_node N -m wmemb.cli finetune ...` on the small datasets (1 epoch, batch 8)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes)]
    command += ["--master_port", str(port), "-m", "wmemb.cli", "finetune", str(model), str(output), str(train)]
    command += ["--val", str(val), "--epochs", "1", "--batch-size", "8", "--lr", "1e-3"]
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", **env}
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=600)
