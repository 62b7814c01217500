"""Inputs for a whole `wmemb run` on a tiny bilingual corpus: the corpus, the questions a local test
LLM server writes for it, and the settings that point a run at both."""

from __future__ import annotations

import re
from pathlib import Path

from wmemb.pipeline import PipelineConfig

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
CHINESE_NAME = "微生物"  # a run name (file stem) in Chinese


def write_corpus(folder: Path, variant: str = "", chapters: int = 12, facts: int = 12, per_paragraph: int = 4) -> Path:
    """book.txt: per chapter an English and a Chinese paragraph of `per_paragraph` of the first `facts` facts,
    rotated by chapter; `variant` changes the English headings (a revised corpus)."""
    paragraphs = []
    for i in range(chapters):
        picked = [(i + k) % facts for k in range(per_paragraph)]
        english, chinese = " ".join(EN_FACTS[j] for j in picked), "".join(ZH_FACTS[j] for j in picked)
        paragraphs.append(f"Chapter {i}{variant}. {english} Experiment {i} took {i + 2} days.")
        paragraphs.append(f"第{i}章。{chinese}实验{i}用了{i + 2}天。")
    corpus = folder / "book.txt"
    corpus.write_text("\n\n".join(paragraphs), encoding="utf-8")
    return corpus


def distinct_questions(prompt: str) -> str:
    """Questions that name words from different places of the passage (so none is a copied span), in the
    prompt's language as a model that follows it writes (Chinese for a mostly Chinese passage that holds an
    English sentence too)."""
    passage = re.search(r"(?:Context:|材料：)\s*\n(.*?)\n\n", prompt, re.S).group(1)
    words = re.findall(r"[A-Za-z]{4,}", passage)
    if len(words) >= 8 and not prompt.startswith("材料："):
        return (
            f"1. How is {words[2]} related to {words[7]}?\n2. What does the text say about {words[5]} and {words[-1]}?"
        )
    han = re.findall(r"[\u4e00-\u9fff]", passage)
    return f"问题1：{''.join(han[3:5])}与{''.join(han[10:12])}有什么关系？\n问题2：文中{''.join(han[-6:-4])}指什么？"


def with_a_non_question(prompt: str) -> str:
    """distinct_questions and a line that is not a question, in the passage's language: prepare drops and records it."""
    written = distinct_questions(prompt)
    return written + ("\n3. 好" if written.startswith("问题") else "\n3. Notes")


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
        "expand": False,  # on by default; the tests that expand say so
        **extra,
    }
    return PipelineConfig.load(None, settings)
