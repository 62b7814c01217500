"""The run report's "Data" section: the funnel from passages to kept questions (replies, failed requests,
questions dropped by the filters and why), per split and language, with samples of kept and dropped questions."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wmemb.corpus.split import SplitSummary
from wmemb.files import RunNames
from wmemb.generate.prepare import DatasetSummary, PrepareSummary
from wmemb.generate.reasons import SET_ASIDE_REASONS, DropReason
from wmemb.io import read_jsonl
from wmemb.records import QADataset
from wmemb.render.charts import hbar_chart
from wmemb.render.document import Block, Chart, Heading, Section, Table, Text, snippet
from wmemb.text import main_language

CHART_FILE = "funnel.svg"
SAMPLES_PER_GROUP = 3  # kept questions per split and language, dropped ones per reason
LANGUAGE_NAMES = {"zh": "中文 (zh)", "en": "English (en)"}
DROP_REASONS = {reason.value: reason.description for reason in DropReason}


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


@dataclass
class SplitFunnel:
    split: str
    dataset: QADataset
    summary: DatasetSummary | None  # prepare's recorded counts for this split; None when not recorded
    language_of: dict[str, str]  # passage id -> language
    failed: Counter  # language -> passages whose request failed
    dropped: list[dict] | None  # {"node_id", "query", "reason"}; None when prepare did not record them

    def asked_by_language(self) -> Counter:
        """Passages questions were asked for: prepare's own count (the corpus also holds the passages a
        max_*_passages cap left out, as distractors)."""
        if self.summary is not None:
            return Counter(self.summary.languages)
        return Counter(self.language_of.values())

    def dropped_by_reason(self) -> dict[str, int] | None:
        """Candidate questions the filters dropped (and lines set aside), per reason, as prepare counted them."""
        return self.summary.dropped if self.summary is not None else None

    def kept_by_language(self) -> Counter:
        return Counter(self.language_of[docs[0]] for docs in self.dataset.relevant_docs.values())

    def dropped_by_language(self) -> dict[str, Counter]:
        by_language: dict[str, Counter] = {}
        for record in self.dropped or []:
            language = self.language_of.get(record.get("node_id", ""), "?")
            by_language.setdefault(language, Counter())[record.get("reason", "?")] += 1
        return by_language


@dataclass
class Funnel:
    passages_total: int | None  # passages split wrote (train + val), before any cap
    splits: list[SplitFunnel]

    @classmethod
    def read(
        cls,
        data_dir: Path,
        names: RunNames,
        split_summary: SplitSummary | None,
        prepare: PrepareSummary | None,
        datasets: dict[str, QADataset],
    ) -> Funnel:
        """The funnel of `datasets` (split -> dataset), with the failure and dropped-question lists prepare
        wrote into `data_dir` and the counts split and prepare recorded (None: not recorded)."""
        recorded = {"train": prepare.train, "val": prepare.val} if prepare is not None else {}
        failures_file = data_dir / names.prepare_failures()
        failures = [record for _, record in read_jsonl(failures_file)] if failures_file.is_file() else []
        splits = []
        for split, dataset in datasets.items():
            language_of: dict[str, str] = {node_id: main_language(text) for node_id, text in dataset.corpus.items()}
            failed = Counter(
                language_of.get(record.get("node_id", ""), "?") for record in failures if record.get("split") == split
            )
            dropped_file = data_dir / names.dropped(split)
            dropped = [record for _, record in read_jsonl(dropped_file)] if dropped_file.is_file() else None
            splits.append(SplitFunnel(split, dataset, recorded.get(split), language_of, failed, dropped))
        return cls(split_summary.passages if split_summary is not None else None, splits)

    def summary(self) -> dict:
        """The counts as data (summary.json)."""
        data: dict[str, Any] = {"passages": self.passages_total, "splits": {}}
        for part in self.splits:
            asked, kept, dropped = part.asked_by_language(), part.kept_by_language(), part.dropped_by_language()
            data["splits"][part.split] = {
                "passages_asked": sum(asked.values()),
                "passages_with_questions": part.dataset.passages_with_queries(),
                "failed": sum(part.failed.values()),
                "kept_questions": len(part.dataset.queries),
                "dropped": part.dropped_by_reason(),
                "by_language": {
                    language: {
                        "passages_asked": asked[language],
                        "failed": part.failed.get(language, 0),
                        "kept_questions": kept.get(language, 0),
                        "dropped": dict(dropped.get(language, {})) if part.dropped is not None else None,
                    }
                    for language in sorted(asked)
                },
            }
        return data

    def section(self) -> Section:
        asked = sum(sum(part.asked_by_language().values()) for part in self.splits)
        failed = sum(sum(part.failed.values()) for part in self.splits)
        answered = sum(part.dataset.passages_with_queries() for part in self.splits)
        kept = sum(len(part.dataset.queries) for part in self.splits)
        dropped_by_reason: Counter = Counter()
        for part in self.splits:
            dropped_by_reason.update(part.dropped_by_reason() or {})
        set_aside = sum(n for reason, n in dropped_by_reason.items() if reason in SET_ASIDE_REASONS)
        dropped_total = sum(dropped_by_reason.values()) - set_aside  # questions the filters dropped
        steps = ([("passages in the corpus", self.passages_total)] if self.passages_total else []) + [
            ("passages asked (requests)", asked),
            ("replies", asked - failed),
            ("passages with a kept question", answered),
            ("questions written", kept + dropped_total),
            ("questions kept", kept),
        ]
        for part in self.splits:
            for language, count in sorted(part.kept_by_language().items()):
                steps.append((f"{part.split} · {language_name(language)}: kept", count))
        blocks: list[Block] = [
            Text(
                f"{asked} passages were sent to the LLM, {asked - failed} replies came back, "
                f"{kept + dropped_total} questions were read from them ({set_aside} other lines set aside: "
                f"preambles, answers, markup) and {kept} kept ({dropped_total} dropped by the filters); "
                f"{answered} passages ({answered / max(asked, 1):.0%} of those asked) have at least one kept question."
            ),
            Chart(CHART_FILE, hbar_chart("From passages to questions", steps), "data funnel"),
            self._counts_table(),
            self._reasons_table(),
        ]
        blocks += self._samples()
        return Section("Data", "data", blocks)

    def _counts_table(self) -> Table:
        rows = []
        for part in self.splits:
            kept = part.kept_by_language()
            dropped = part.dropped_by_language()
            for language, asked in sorted(part.asked_by_language().items()):
                failed = part.failed.get(language, 0)
                reasons = (
                    ", ".join(f"{reason} {n}" for reason, n in sorted(dropped.get(language, {}).items())) or "none"
                    if part.dropped is not None
                    else "not recorded"
                )
                rows.append(
                    [part.split, language_name(language), asked, asked - failed, failed, kept.get(language, 0), reasons]
                )
        return Table(
            ["split", "language", "passages asked", "replies", "failed", "kept questions", "dropped (reason: count)"],
            rows,
            "llrrrrl",
        )

    def _reasons_table(self) -> Table:
        reasons = sorted({reason for part in self.splits for reason in (part.dropped_by_reason() or {})})
        rows = [
            [
                reason,
                DROP_REASONS.get(reason, ""),
                *((part.dropped_by_reason() or {}).get(reason, 0) for part in self.splits),
            ]
            for reason in reasons
        ]
        rows.append(
            ["failed", "the request failed after its retries", *(sum(part.failed.values()) for part in self.splits)]
        )
        return Table(["drop reason", "meaning", *(part.split for part in self.splits)], rows, "llrr")

    def _samples(self) -> list[Any]:
        rng = random.Random(0)
        kept_rows, dropped_rows = [], []
        for part in self.splits:
            by_language: dict[str, list[str]] = {}
            for query_id in sorted(part.dataset.queries):
                by_language.setdefault(part.language_of[part.dataset.relevant_docs[query_id][0]], []).append(query_id)
            for language, query_ids in sorted(by_language.items()):
                for query_id in rng.sample(query_ids, min(SAMPLES_PER_GROUP, len(query_ids))):
                    passage = part.dataset.corpus[part.dataset.relevant_docs[query_id][0]]
                    kept_rows.append(
                        [part.split, language_name(language), part.dataset.queries[query_id], snippet(passage)]
                    )
            by_reason: dict[str, list[dict]] = {}
            for record in part.dropped or []:
                by_reason.setdefault(record.get("reason", "?"), []).append(record)
            for reason, records in sorted(by_reason.items()):
                for record in rng.sample(records, min(SAMPLES_PER_GROUP, len(records))):
                    passage = part.dataset.corpus.get(record.get("node_id", ""), "")
                    dropped_rows.append(
                        [part.split, reason, record.get("query", ""), snippet(passage) or "(passage not found)"]
                    )
        blocks: list[Block] = [
            Heading("A sample of kept questions"),
            Table(["split", "language", "question", "passage"], kept_rows),
        ]
        blocks.append(Heading("A sample of dropped questions"))
        if any(part.dropped is None for part in self.splits):
            blocks.append(
                Text(
                    "Dropped questions: not recorded for "
                    + ", ".join(part.split for part in self.splits if part.dropped is None)
                    + " (prepare writes them to data/<name>_<split>_dropped.jsonl; rerun `wmemb run --from prepare` "
                    "to record them — cached replies are reused)."
                )
            )
        if dropped_rows:
            blocks.append(Table(["split", "reason", "question", "passage"], dropped_rows))
        return blocks
