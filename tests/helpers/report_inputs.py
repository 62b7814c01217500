"""Inputs for the report tests' finished run: a bilingual corpus named in Chinese, and the questions a local
test LLM server writes for it, one line of each reply not a question (so the run records a dropped one)."""

from __future__ import annotations

import re
from pathlib import Path

FACTS = [
    ("Spores survive heat and drying for years.", "芽孢能耐高温和干燥。"),
    ("Gram-positive bacteria keep crystal violet in a thick wall.", "革兰氏阳性菌的细胞壁很厚。"),
    ("Gram-negative bacteria have an outer membrane with lipopolysaccharide.", "革兰氏阴性菌有外膜。"),
    ("Viruses need a host cell to copy themselves.", "病毒必须在细胞内复制。"),
    ("Penicillin blocks the building of the cell wall.", "青霉素阻止细胞壁合成。"),
    ("Yeast ferments sugar into alcohol and carbon dioxide.", "酵母菌把糖发酵成酒精。"),
    ("Plasmids carry genes for antibiotic resistance.", "质粒携带抗药基因。"),
    ("Flagella let many bacteria swim toward nutrients.", "鞭毛让细菌游向养分。"),
]
NAME = "微生物"


def write_corpus(folder: Path) -> Path:
    paragraphs = []
    for i in range(10):
        english = [FACTS[(i + k) % len(FACTS)][0] for k in range(3)]
        chinese = [FACTS[(i + k) % len(FACTS)][1] for k in range(3)]
        paragraphs.append(f"Chapter {i}. " + " ".join(english) + f" Experiment {i} took {i + 2} days.")
        paragraphs.append(f"第{i}章。" + "".join(chinese) + f"实验{i}用了{i + 2}天。")
    corpus = folder / "book.txt"
    corpus.write_text("\n\n".join(paragraphs), encoding="utf-8")
    return corpus


def questions(prompt: str) -> str:
    """Two questions naming words from different places of the passage, and a line that is not one."""
    passage = re.search(r"(?:Context:|材料：)\s*\n(.*?)\n\n", prompt, re.S).group(1)
    words = re.findall(r"[A-Za-z]{4,}", passage)
    if len(words) >= 8:
        return f"1. How is {words[2]} related to {words[7]}?\n2. What about {words[5]} and {words[-1]}?\n3. Notes"
    han = re.findall(r"[\u4e00-\u9fff]", passage)
    first, second = "".join(han[3:5]) + "与" + "".join(han[10:12]), "".join(han[-6:-4])
    return f"问题1：{first}有什么关系？\n问题2：文中{second}指什么？\n3. 好"
