"""Evaluation data: queries, a corpus, and which passages answer which query.

Two layouts are read into one `EvalData`:

- llama_index JSON (`*_val_dataset.json` from `prepare`, or a file llama_index wrote), read by
  `wmemb.records.QADataset`;
- a BEIR folder: `corpus.jsonl` (`_id`, `title`, `text`), `queries.jsonl` (`_id`, `text`) and
  `qrels/<split>.tsv` (`query-id`, `corpus-id`, `score`, with a header line). As in BEIR, a passage
  is `title + " " + text`, a qrels row counts as relevant when its score is above 0 (relevance is
  binary here, like sentence-transformers' InformationRetrievalEvaluator), and only the queries
  named in the split's qrels are evaluated.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

from wmemb.errors import WMEmbError
from wmemb.io import read_jsonl
from wmemb.records import QADataset

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalData:
    """A validated evaluation set; `name` labels it in reports."""

    name: str
    source: Path
    dataset: QADataset

    @property
    def queries(self) -> dict[str, str]:
        return self.dataset.queries

    @property
    def corpus(self) -> dict[str, str]:
        return self.dataset.corpus

    @property
    def relevant_docs(self) -> dict[str, list[str]]:
        return self.dataset.relevant_docs


def load_eval_data(path: str | Path, split: str = "test") -> EvalData:
    """Read a llama_index JSON file or a BEIR folder (`split` picks `qrels/<split>.tsv`)."""
    source = Path(path).expanduser()
    if source.is_dir():
        data = EvalData(name=f"{source.name}/{split}", source=source, dataset=_load_beir(source, split))
    elif source.is_file():
        if source.suffix.lower() != ".json":
            raise WMEmbError(
                f"{source}: expected a llama_index .json dataset or a BEIR folder (corpus.jsonl, queries.jsonl, qrels/)"
            )
        data = EvalData(name=source.stem, source=source, dataset=QADataset.load(source))
    else:
        raise WMEmbError(f"{source}: evaluation dataset not found; pass a *_dataset.json file or a BEIR folder")
    log.info("evaluation data %s: %d queries, %d passages", data.name, len(data.queries), len(data.corpus))
    return data


def _load_beir(folder: Path, split: str) -> QADataset:
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

    corpus = {}
    for lineno, obj in read_jsonl(corpus_path):
        doc_id, title, text = obj.get("_id"), obj.get("title") or "", obj.get("text")
        if doc_id is None or not isinstance(text, str) or not isinstance(title, str):
            raise WMEmbError(f'{corpus_path}:{lineno}: each line needs "_id" and a string "text" ("title" optional)')
        corpus[str(doc_id)] = f"{title} {text}".strip()

    all_queries = {}
    for lineno, obj in read_jsonl(queries_path):
        query_id, text = obj.get("_id"), obj.get("text")
        if query_id is None or not isinstance(text, str):
            raise WMEmbError(f'{queries_path}:{lineno}: each line needs "_id" and a string "text"')
        all_queries[str(query_id)] = text

    relevant = _read_qrels(qrels_path)
    # queries.jsonl usually holds every split's queries: evaluate only those this split judges.
    queries = {qid: text for qid, text in all_queries.items() if qid in relevant}
    dataset = QADataset(queries=queries, corpus=corpus, relevant_docs=relevant)
    if not queries:
        raise WMEmbError(
            f"{qrels_path}: no queries to evaluate (no qrels row with score > 0 names a query in {queries_path.name})"
        )
    return dataset.validate(folder)


def _read_qrels(path: Path) -> dict[str, list[str]]:
    relevant: dict[str, list[str]] = {}
    judged_irrelevant = 0
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
    if judged_irrelevant:
        log.info("%s: %d qrels rows with score <= 0 count as not relevant", path.name, judged_irrelevant)
    return relevant
