"""Small real evaluation sets (English and Chinese) and writers for both input layouts."""

from __future__ import annotations

import json
from pathlib import Path

from wmemb.records import QADataset

ENGLISH = QADataset(
    queries={
        "q-shell": "What program reads the commands I type in a terminal?",
        "q-apt": "How do I install a package on Debian?",
        "q-root": "Which account has full administrative rights?",
        "q-sudo": "How can a normal user run one command as the superuser?",
        "q-fs": "Where are system-wide configuration files kept?",
        "q-perm": "How do I change who may read or write a file?",
        "q-kernel": "What part of the system talks directly to the hardware?",
        "q-man": "Where can I read the documentation of a command?",
    },
    corpus={
        "p01": "The shell is a command interpreter: it reads the lines you type in a terminal and runs them.",
        "p02": "Bash is the default login shell on Debian; dash runs the system scripts.",
        "p03": "Use apt install followed by the package name to download and install software from the archive.",
        "p04": "dpkg installs a local .deb file, but it does not fetch the dependencies for you.",
        "p05": "The root account is the superuser and may do anything on the system.",
        "p06": "sudo lets a permitted user run a single command with root privileges after typing their own password.",
        "p07": "System-wide configuration files live under /etc, for example /etc/fstab and /etc/hosts.",
        "p08": "chmod changes the read, write and execute permission bits of a file; chown changes its owner.",
        "p09": "The Linux kernel manages memory and processes and drives the hardware through device drivers.",
        "p10": "Manual pages are read with the man command, for example man ls.",
        "p11": "Debian releases are named after characters from the Toy Story films.",
        "p12": "The desktop environment draws windows, panels and icons for graphical sessions.",
        "p13": "A cron job runs a command at fixed times, such as every night at two o'clock.",
        "p14": "Log files are collected by journald and can be read with journalctl.",
    },
    relevant_docs={
        "q-shell": ["p01", "p02"],
        "q-apt": ["p03", "p04"],
        "q-root": ["p05"],
        "q-sudo": ["p06"],
        "q-fs": ["p07"],
        "q-perm": ["p08"],
        "q-kernel": ["p09"],
        "q-man": ["p10"],
    },
)

CHINESE = QADataset(
    queries={
        "q1": "什么是革兰氏阳性菌？",
        "q2": "细胞膜有什么作用？",
        "q3": "芽孢是怎样形成的？",
        "q4": "病毒能不能自己生长？",
        "q5": "酶在细胞中做什么？",
        "q6": "细胞壁的主要成分是什么？",
    },
    corpus={
        "c01": "革兰氏阳性菌的细胞壁厚，染色后呈紫色。",
        "c02": "革兰氏阴性菌的细胞壁薄，外面还有一层外膜。",
        "c03": "细胞膜控制物质进出细胞，是细胞与外界的边界。",
        "c04": "芽孢杆菌在不利的条件下形成芽孢，芽孢能长期保存。",
        "c05": "病毒没有细胞结构，只能在活细胞内复制。",
        "c06": "酶是生物催化剂，能加快细胞内的化学反应。",
        "c07": "细胞壁主要由肽聚糖构成，能保持细胞的形状。",
        "c08": "细胞核中有遗传物质，控制细胞的生长和分裂。",
        "c09": "培养基为微生物的生长提供水和营养。",
        "c10": "高温和高压可以杀死大部分微生物。",
        "c11": "显微镜让人们看到了微小的生物。",
        "c12": "土壤中有大量的微生物参与物质的循环。",
    },
    relevant_docs={"q1": ["c01"], "q2": ["c03"], "q3": ["c04"], "q4": ["c05"], "q5": ["c06"], "q6": ["c07", "c01"]},
)


def write_beir(
    folder: Path,
    dataset: QADataset,
    split: str = "test",
    extra_queries: dict[str, str] | None = None,
    irrelevant_rows: list[tuple[str, str]] = (),
) -> Path:
    """Write `dataset` as a BEIR folder; each passage's first word goes into its title."""
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as handle:
        for doc_id, text in dataset.corpus.items():
            title, _, rest = text.partition(" ") if " " in text else ("", "", text)
            handle.write(json.dumps({"_id": doc_id, "title": title, "text": rest}, ensure_ascii=False) + "\n")
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as handle:
        for query_id, text in {**dataset.queries, **(extra_queries or {})}.items():
            handle.write(json.dumps({"_id": query_id, "text": text}, ensure_ascii=False) + "\n")
    rows = [f"{qid}\t{doc}\t1" for qid, docs in dataset.relevant_docs.items() for doc in docs]
    rows += [f"{qid}\t{doc}\t0" for qid, doc in irrelevant_rows]
    (folder / "qrels" / f"{split}.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "\n".join(rows) + "\n", encoding="utf-8"
    )
    return folder
