"""Inputs for the prepare tests: bilingual passages written as node files, and options for a local test
LLM server."""

from __future__ import annotations

from pathlib import Path

from wmemb.generate import PrepareOptions
from wmemb.records import Node, content_id, write_nodes

EN_PASSAGES = [
    "The apt tool installs Debian packages from the repositories listed in the sources.list file.",
    "The Linux kernel schedules processes and manages the memory of every running program.",
    "A shell prompt shows the user name, the host name and the current working directory.",
    "Files starting with a dot are hidden from a plain ls listing unless the -a option is given.",
    "The root account has full control of the system, so daily work should use a normal account.",
    "Virtual consoles are reached with Ctrl-Alt-F1 to F6 and each one offers its own login prompt.",
]
ZH_PASSAGES = [
    "革兰氏阳性菌的细胞壁较厚，主要由肽聚糖构成，革兰氏染色后呈紫色。",
    "芽孢是某些细菌在不良环境下形成的休眠体，对高温和干燥有很强的抵抗力。",
    "Debian 使用 apt 命令管理软件包，软件源列在 sources.list 文件中。",
]


def make_nodes(texts: list[str], source: str = "sample.txt") -> list[Node]:
    return [
        Node(id=content_id(t), text=t, source=source, position=i, start=0, end=len(t), tokens=len(t.split()))
        for i, t in enumerate(texts)
    ]


def write_node_files(folder: Path, train: list[str], val: list[str], stem: str = "book") -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    train_path, val_path = folder / f"{stem}_train_nodes.jsonl", folder / f"{stem}_val_nodes.jsonl"
    write_nodes(train_path, make_nodes(train))
    write_nodes(val_path, make_nodes(val))
    return train_path, val_path


def fast_options(server, **overrides) -> PrepareOptions:
    """Options for a test server: short backoff and timeout."""
    values = dict(llm="openai", base_urls=[server.base_url], retry_base_delay=0.05, retry_max_delay=1.0, timeout=5.0)
    values.update(overrides)
    return PrepareOptions(**values)
