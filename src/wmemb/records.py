"""The on-disk formats stages exchange, as dataclasses with their readers and writers.

- Nodes (`*_nodes.jsonl`, written by `split`, read by `prepare`): one passage per line,
  `{"id", "text", "source", "position", "start", "end", "tokens"}`.
- QA datasets (`*_dataset.json`, written by `prepare`, read by `finetune`/`mine`/`evaluate`):
  llama_index's `EmbeddingQAFinetuneDataset` layout
  `{"queries": {qid: text}, "corpus": {doc_id: text}, "relevant_docs": {qid: [doc_id, ...]}, "mode": "text"}`.
- FlagEmbedding JSONL (written by `mine`, read by `finetune`): one query per line,
  `{"query", "pos": [...], "neg": [...], "pos_scores"?, "neg_scores"?, "prompt"?}`.

See docs/formats.md for the full description.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from wmemb.errors import WMEmbError
from wmemb.io import read_json, read_jsonl, write_json, write_jsonl


def content_id(text: str) -> str:
    """A stable id for a piece of text: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Node:
    """A passage cut from a source document."""

    id: str
    text: str
    source: str
    position: int  # index of the passage within its source document
    start: int  # character offsets of the passage in the source's extracted text
    end: int
    tokens: int  # length in tokens of the splitting model (special tokens excluded)


def write_nodes(path: str | Path, nodes: Iterable[Node]) -> int:
    return write_jsonl(path, (asdict(node) for node in nodes))


def read_nodes(path: str | Path) -> list[Node]:
    """Read a nodes file; a pickle from the original design gets a pointer to `split` instead."""
    path = Path(path)
    if path.suffix == ".pkl":
        raise WMEmbError(
            f"{path}: wmemb never unpickles files; node files are JSON Lines - use the *_nodes.jsonl names `split` reports"
        )
    nodes = []
    for lineno, obj in read_jsonl(path):
        try:
            nodes.append(
                Node(
                    id=str(obj["id"]),
                    text=str(obj["text"]),
                    source=str(obj.get("source", "")),
                    position=int(obj.get("position", 0)),
                    start=int(obj.get("start", 0)),
                    end=int(obj.get("end", 0)),
                    tokens=int(obj.get("tokens", 0)),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise WMEmbError(
                f'{path}:{lineno}: not a node record ({exc}); each line needs at least "id" and "text"'
            ) from None
    if not nodes:
        raise WMEmbError(f"{path}: no nodes in this file; run `wmemb split` on your corpus first")
    return nodes


@dataclass
class QADataset:
    """Queries, the passages they are asked about, and which passages answer which query."""

    queries: dict[str, str]
    corpus: dict[str, str]
    relevant_docs: dict[str, list[str]]
    mode: str = "text"

    def validate(self, source: str | Path = "dataset") -> QADataset:
        """Check the cross references; raise one clear error for the first kind of problem found."""
        if not self.queries:
            raise WMEmbError(f"{source}: the dataset has no queries")
        if not self.corpus:
            raise WMEmbError(f"{source}: the dataset has an empty corpus")
        no_relevant = [qid for qid in self.queries if not self.relevant_docs.get(qid)]
        if no_relevant:
            raise WMEmbError(
                f"{source}: {len(no_relevant)} queries have no relevant_docs entry (first: {no_relevant[0]!r})"
            )
        unknown_queries = [qid for qid in self.relevant_docs if qid not in self.queries]
        if unknown_queries:
            raise WMEmbError(
                f"{source}: relevant_docs names {len(unknown_queries)} query ids missing from queries (first: {unknown_queries[0]!r})"
            )
        missing = sorted({doc for docs in self.relevant_docs.values() for doc in docs if doc not in self.corpus})
        if missing:
            raise WMEmbError(
                f"{source}: relevant_docs names {len(missing)} doc ids missing from corpus (first: {missing[0]!r})"
            )
        return self

    def to_json(self) -> dict:
        return {"queries": self.queries, "corpus": self.corpus, "relevant_docs": self.relevant_docs, "mode": self.mode}

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> QADataset:
        """Load a dataset written by wmemb or by llama_index (whose JSON escapes non-ASCII)."""
        data = read_json(path)
        if not isinstance(data, dict):
            raise WMEmbError(f"{path}: expected a JSON object with queries/corpus/relevant_docs")
        missing = [key for key in ("queries", "corpus", "relevant_docs") if key not in data]
        if missing:
            raise WMEmbError(
                f"{path}: missing field(s) {', '.join(missing)}; expected llama_index's EmbeddingQAFinetuneDataset layout"
            )
        for key in ("queries", "corpus", "relevant_docs"):
            if not isinstance(data[key], dict):
                raise WMEmbError(f"{path}: field {key!r} must be an object mapping ids to values")
        relevant = {}
        for qid, docs in data["relevant_docs"].items():
            if isinstance(docs, str):
                docs = [docs]
            if not isinstance(docs, list):
                raise WMEmbError(f"{path}: relevant_docs[{qid!r}] must be a list of doc ids")
            relevant[str(qid)] = [str(doc) for doc in docs]
        return cls(
            queries={str(k): str(v) for k, v in data["queries"].items()},
            corpus={str(k): str(v) for k, v in data["corpus"].items()},
            relevant_docs=relevant,
            mode=str(data.get("mode", "text")),
        ).validate(path)


@dataclass
class PairRecord:
    """One FlagEmbedding training line: a query, its positive passages, optional hard negatives."""

    query: str
    pos: list[str]
    neg: list[str] = field(default_factory=list)
    pos_scores: list[float] | None = None
    neg_scores: list[float] | None = None
    prompt: str | None = None

    def to_json(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value is not None}


def read_pairs(path: str | Path) -> list[PairRecord]:
    records = []
    for lineno, obj in read_jsonl(path):
        query, pos, neg = obj.get("query"), obj.get("pos"), obj.get("neg", [])
        if not isinstance(query, str) or not query.strip():
            raise WMEmbError(f'{path}:{lineno}: field "query" must be a non-empty string')
        if not isinstance(pos, list) or not pos or not all(isinstance(p, str) for p in pos):
            raise WMEmbError(f'{path}:{lineno}: field "pos" must be a non-empty list of strings')
        if not isinstance(neg, list) or not all(isinstance(n, str) for n in neg):
            raise WMEmbError(f'{path}:{lineno}: field "neg" must be a list of strings')
        records.append(
            PairRecord(
                query=query,
                pos=pos,
                neg=neg,
                pos_scores=obj.get("pos_scores"),
                neg_scores=obj.get("neg_scores"),
                prompt=obj.get("prompt"),
            )
        )
    if not records:
        raise WMEmbError(f"{path}: no training lines in this file")
    return records


def write_pairs(path: str | Path, records: Iterable[PairRecord]) -> int:
    return write_jsonl(path, (record.to_json() for record in records))
