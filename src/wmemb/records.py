"""The on-disk formats stages exchange, as dataclasses with their readers and writers.

- Nodes (`*_nodes.jsonl`, written by `split`, read by `prepare`): one passage per line,
  `{"id", "text", "source", "position", "start", "end", "tokens"}`.
- QA datasets (`*_dataset.json`, written by `prepare`, read by `finetune`/`mine`/`evaluate`):
  llama_index's `EmbeddingQAFinetuneDataset` layout
  `{"queries": {qid: text}, "corpus": {doc_id: text}, "relevant_docs": {qid: [doc_id, ...]}, "mode": "text"}`.
- FlagEmbedding JSONL (written by `mine`, read by `finetune`): one query per line,
  `{"query", "pos": [...], "neg": [...], "pos_scores"?, "neg_scores"?, "prompt"?}`.
- BEIR folders (read by `evaluate`, `finetune`, `mine`): `corpus.jsonl`, `queries.jsonl`, `qrels/<split>.tsv`.

`read_qa_dataset` reads the last three as one `QADataset`, with the same checks whatever the layout:
every text a non-blank string, every id unique, every reference resolved. See docs/formats.md.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from wmemb.errors import WMEmbError
from wmemb.io import read_json, read_jsonl, write_json, write_jsonl

log = logging.getLogger(__name__)

PAIRS_SUFFIXES = (".jsonl", ".jsonlines")
"""FlagEmbedding JSONL is recognised by its extension; other dataset files are llama_index JSON."""


def content_id(text: str) -> str:
    """A stable id for a piece of text: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return "a blank string"
    return f"a JSON {'list' if isinstance(value, list) else 'object'}"


def text_value(value: object, where: str) -> str:
    """A passage or query text: a string with something in it (null, numbers and blanks are mistakes,
    not texts "None", "123", "   ")."""
    if not isinstance(value, str) or not value.strip():
        raise WMEmbError(f"{where} must be a non-empty text, got {_describe(value)}; fix or remove it")
    return value


def id_value(value: object, where: str) -> str:
    """An id: a non-blank string, or an integer (JSON writers keep integer ids as numbers)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise WMEmbError(f"{where} must be a string id, got {_describe(value)}; fix or remove it")
    return value


def check_input_file(path: str | os.PathLike, what: str, hint: str) -> Path:
    """An input file must exist, be a file, not a pickle (wmemb never unpickles) and not be empty."""
    source = Path(path).expanduser()
    if source.is_dir():
        raise WMEmbError(f"{source}: is a folder, not a {what} file; pass {hint}")
    if not source.is_file():
        raise WMEmbError(f"{source}: {what} file not found; pass {hint}")
    with source.open("rb") as handle:
        head = handle.read(2)
    if source.suffix.lower() in (".pkl", ".pickle") or (len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5):
        raise WMEmbError(f"{source}: a Python pickle; wmemb never unpickles files - pass {hint}")
    if not head.strip() and not source.read_bytes().strip():
        raise WMEmbError(f"{source}: the file is empty; pass {hint}")
    return source


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
    title: str = ""  # section path of the passage, "Chapter 1 > 1.1. Console basics" ("" where unknown)

    def titled_text(self) -> str:
        """The passage with its section path as a first line, as BEIR corpora give titles; the text
        alone where there is no title."""
        return f"{self.title}\n{self.text}" if self.title else self.text


def write_nodes(path: str | Path, nodes: Iterable[Node]) -> int:
    return write_jsonl(path, (asdict(node) for node in nodes))


NODES_HINT = "the *_nodes.jsonl files `wmemb split` writes"


def seeded_sample(nodes: list[Node], count: int, seed: int) -> list[Node]:
    """`count` of the nodes in their own order, chosen by a seeded hash of their ids: reproducible, and
    unbiased by where a passage sits in the book."""
    ranked = sorted(nodes, key=lambda node: hashlib.sha256(f"{seed}:{node.id}".encode()).hexdigest())
    chosen = {node.id for node in ranked[:count]}
    return [node for node in nodes if node.id in chosen]


def read_nodes(path: str | os.PathLike) -> list[Node]:
    """Read a nodes file; every line needs a unique "id" and a non-empty "text"."""
    path = check_input_file(path, "node", NODES_HINT)
    nodes: list[Node] = []
    first_line: dict[str, int] = {}
    for lineno, obj in read_jsonl(path):
        where = f"{path}:{lineno}"
        node_id = id_value(obj.get("id"), f'{where}: "id"')
        if node_id in first_line:
            raise WMEmbError(
                f"{where}: id {node_id!r} was already used on line {first_line[node_id]}; "
                "ids must be unique (rerun `wmemb split`, or give the passage its own id)"
            )
        first_line[node_id] = lineno
        try:
            nodes.append(
                Node(
                    id=node_id,
                    text=text_value(obj.get("text"), f'{where}: "text" of node {node_id!r}'),
                    source=str(obj.get("source", "")),
                    position=int(obj.get("position", 0)),
                    start=int(obj.get("start", 0)),
                    end=int(obj.get("end", 0)),
                    tokens=int(obj.get("tokens", 0)),
                    title=str(obj.get("title") or ""),
                )
            )
        except (TypeError, ValueError) as exc:
            raise WMEmbError(
                f"{where}: not a node record ({exc}); position, start, end and tokens are integers"
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
        problem = None
        no_relevant = [qid for qid in self.queries if not self.relevant_docs.get(qid)]
        unknown_queries = [qid for qid in self.relevant_docs if qid not in self.queries]
        missing = sorted({doc for docs in self.relevant_docs.values() for doc in docs if doc not in self.corpus})
        if not self.queries:
            problem = "the dataset has no queries"
        elif not self.corpus:
            problem = "the dataset has an empty corpus"
        elif no_relevant:
            problem = f"{len(no_relevant)} queries have no relevant_docs entry (first: {no_relevant[0]!r})"
        elif unknown_queries:
            problem = (
                f"relevant_docs names {len(unknown_queries)} query ids missing from queries "
                f"(first: {unknown_queries[0]!r})"
            )
        elif missing:
            problem = f"relevant_docs names {len(missing)} doc ids missing from corpus (first: {missing[0]!r})"
        if problem:
            raise WMEmbError(f"{source}: {problem}; fix the dataset, or run `wmemb prepare` to write a new one")
        return self

    def passages_with_queries(self) -> int:
        """Corpus passages that answer at least one query; the others are distractors."""
        return len({doc for docs in self.relevant_docs.values() for doc in docs})

    def to_json(self) -> dict:
        return {"queries": self.queries, "corpus": self.corpus, "relevant_docs": self.relevant_docs, "mode": self.mode}

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> QADataset:
        """Load a llama_index layout file (wmemb's, or llama_index's own, whose JSON escapes non-ASCII)."""
        path = check_input_file(path, "dataset", DATASET_HINT)
        data = read_json(path, unique_keys=True)
        if not isinstance(data, dict):
            raise WMEmbError(f"{path}: expected a JSON object with queries/corpus/relevant_docs; pass {DATASET_HINT}")
        missing = [key for key in ("queries", "corpus", "relevant_docs") if key not in data]
        if missing:
            raise WMEmbError(
                f"{path}: missing field(s) {', '.join(missing)}; "
                "expected llama_index's EmbeddingQAFinetuneDataset layout"
            )
        for key in ("queries", "corpus", "relevant_docs"):
            if not isinstance(data[key], dict):
                raise WMEmbError(f"{path}: field {key!r} must be an object mapping ids to values")
        relevant = {}
        for qid, docs in data["relevant_docs"].items():
            if isinstance(docs, (str, int)) and not isinstance(docs, bool):
                docs = [docs]
            if not isinstance(docs, list):
                raise WMEmbError(f"{path}: relevant_docs[{qid!r}] must be a list of doc ids, got {_describe(docs)}")
            relevant[qid] = [id_value(doc, f"{path}: relevant_docs[{qid!r}]") for doc in docs]
        mode = data.get("mode", "text")
        if not isinstance(mode, str):
            raise WMEmbError(f'{path}: field "mode" must be "text", got {_describe(mode)}')
        return cls(
            queries={qid: text_value(text, f"{path}: queries[{qid!r}]") for qid, text in data["queries"].items()},
            corpus={doc: text_value(text, f"{path}: corpus[{doc!r}]") for doc, text in data["corpus"].items()},
            relevant_docs=relevant,
            mode=mode,
        ).validate(path)


DATASET_HINT = "a *_dataset.json from `wmemb prepare`, a FlagEmbedding .jsonl from `wmemb mine`, or a BEIR folder"


def is_pairs_file(path: str | Path) -> bool:
    return Path(path).suffix.lower() in PAIRS_SUFFIXES


def read_qa_dataset(path: str | os.PathLike, split: str = "test") -> QADataset:
    """Queries, passages and relevance from any dataset layout wmemb reads.

    - llama_index JSON (`*_dataset.json`);
    - FlagEmbedding JSONL (`.jsonl`): the corpus is every `pos` and `neg` text, the `pos` are relevant;
    - a BEIR folder: `corpus.jsonl` (`_id`, `title`, `text`), `queries.jsonl` (`_id`, `text`) and
      `qrels/<split>.tsv` (`query-id`, `corpus-id`, `score`, with a header line). As in BEIR, a passage
      is `title + " " + text`, a qrels row is relevant when its score is above 0 (relevance is binary,
      like sentence-transformers' InformationRetrievalEvaluator), and only the queries the split's
      qrels name are kept.
    """
    source = Path(path).expanduser()
    if source.is_dir() and any((source / name).exists() for name in ("corpus.jsonl", "queries.jsonl", "qrels")):
        return _read_beir(source, split)
    if not is_pairs_file(source):
        return QADataset.load(source)
    queries, corpus, relevant = {}, {}, {}
    for index, record in enumerate(read_pairs(source)):
        qid = f"q{index}"
        queries[qid] = record.query
        relevant[qid] = [content_id(text) for text in record.pos]
        for text in record.pos + record.neg:
            corpus[content_id(text)] = text
    return QADataset(queries, corpus, relevant).validate(source)


def _read_beir(folder: Path, split: str) -> QADataset:
    corpus_path, queries_path, qrels_path = (
        folder / "corpus.jsonl",
        folder / "queries.jsonl",
        folder / "qrels" / f"{split}.tsv",
    )
    for required in (corpus_path, queries_path):
        if not required.is_file():
            raise WMEmbError(
                f"{required}: missing; a BEIR folder holds corpus.jsonl, queries.jsonl and qrels/<split>.tsv"
            )
    if not qrels_path.is_file():
        available = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
        hint = f"available splits: {', '.join(available)}" if available else "the folder has no qrels/*.tsv"
        raise WMEmbError(f"{qrels_path}: missing; choose another --split ({hint})")

    corpus = _read_beir_texts(corpus_path, with_title=True)
    all_queries = _read_beir_texts(queries_path, with_title=False)
    relevant = _read_qrels(qrels_path)
    # queries.jsonl usually holds every split's queries: keep only those this split judges.
    queries = {qid: text for qid, text in all_queries.items() if qid in relevant}
    if not queries:
        raise WMEmbError(
            f"{qrels_path}: no queries to evaluate (no qrels row with score > 0 names a query in {queries_path.name})"
        )
    return QADataset(queries=queries, corpus=corpus, relevant_docs=relevant).validate(folder)


def _read_beir_texts(path: Path, with_title: bool) -> dict[str, str]:
    texts: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for lineno, obj in read_jsonl(path):
        where = f"{path}:{lineno}"
        if "_id" not in obj or "text" not in obj:
            needs = '"_id" and "text" ("title" optional)' if with_title else '"_id" and "text"'
            raise WMEmbError(f"{where}: each line needs {needs}")
        item_id = id_value(obj["_id"], f'{where}: "_id"')
        if item_id in first_line:
            raise WMEmbError(
                f"{where}: _id {item_id!r} was already used on line {first_line[item_id]}; rename or remove one"
            )
        first_line[item_id] = lineno
        label = f'{where}: "text" of {item_id!r}'
        if not isinstance(obj["text"], str):
            text_value(obj["text"], label)  # raises the message every layout gives
        title = (obj.get("title") or "") if with_title else ""
        if not isinstance(title, str):
            raise WMEmbError(f'{where}: "title" of {item_id!r} must be a string, got {_describe(title)}; fix that line')
        texts[item_id] = text_value(f"{title} {obj['text']}".strip(), label)
    return texts


def _read_qrels(path: Path) -> dict[str, list[str]]:
    relevant: dict[str, list[str]] = {}
    judged_irrelevant = 0
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = csv.reader(handle, delimiter="\t")
            header = next(rows, None)
            if header is None or [cell.strip() for cell in header[:3]] != ["query-id", "corpus-id", "score"]:
                raise WMEmbError(f"{path}: the first line must be the header query-id<TAB>corpus-id<TAB>score")
            for lineno, row in enumerate(rows, start=2):
                if not any(cell.strip() for cell in row):
                    continue
                try:
                    query_id, doc_id, score = row[0].strip(), row[1].strip(), float(row[2])
                except (IndexError, ValueError):
                    raise WMEmbError(f"{path}:{lineno}: expected query-id<TAB>corpus-id<TAB>numeric score") from None
                if score > 0:
                    relevant.setdefault(query_id, []).append(doc_id)
                else:
                    judged_irrelevant += 1
    except UnicodeDecodeError:
        raise WMEmbError(f"{path}: not UTF-8 text; save it as UTF-8") from None
    if judged_irrelevant:
        log.info("%s: %d qrels rows with score <= 0 count as not relevant", path.name, judged_irrelevant)
    return relevant


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
    """Read FlagEmbedding JSONL; every text must be non-empty, scores numbers, the prompt a string."""
    path = check_input_file(path, "FlagEmbedding .jsonl", "a .jsonl with one query per line, as `wmemb mine` writes")
    records = []
    for lineno, obj in read_jsonl(path):
        where = f"{path}:{lineno}"
        if "query" not in obj and "id" in obj and "text" in obj:
            raise WMEmbError(f"{where}: this is a node file from `wmemb split`, not a dataset; pass {DATASET_HINT}")
        query = text_value(obj.get("query"), f'{where}: field "query"')
        pos, neg = obj.get("pos"), obj.get("neg", [])
        if not isinstance(pos, list) or not pos:
            raise WMEmbError(f'{where}: field "pos" must be a non-empty list of texts')
        if not isinstance(neg, list):
            raise WMEmbError(f'{where}: field "neg" must be a list of texts')
        for key in ("pos_scores", "neg_scores"):
            scores = obj.get(key)
            if scores is not None and (
                not isinstance(scores, list)
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in scores)
            ):
                raise WMEmbError(f'{where}: field "{key}" must be a list of numbers')
        prompt = obj.get("prompt")
        if prompt is not None and not isinstance(prompt, str):
            raise WMEmbError(f'{where}: field "prompt" must be a string, got {_describe(prompt)}')
        records.append(
            PairRecord(
                query=query,
                pos=[text_value(p, f'{where}: field "pos"') for p in pos],
                neg=[text_value(n, f'{where}: field "neg"') for n in neg],
                pos_scores=obj.get("pos_scores"),
                neg_scores=obj.get("neg_scores"),
                prompt=prompt,
            )
        )
    if not records:
        raise WMEmbError(f"{path}: no training lines in this file")
    return records


def write_pairs(path: str | Path, records: Iterable[PairRecord]) -> int:
    return write_jsonl(path, (record.to_json() for record in records))
