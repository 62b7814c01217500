"""Append-only JSON Lines cache of model replies, so an interrupted `prepare` resumes.

Each reply is one line, written and flushed as soon as it arrives; a `kill -9` loses at most the
line being written. On open, a partial last line is cut off (it would otherwise glue onto the next
append) and corrupt lines elsewhere are skipped with a warning. Entries are keyed by a hash of
everything that determines the reply: split, passage text, prompt template, model and the number of
questions - changing any of them regenerates, and a train passage never reuses a val entry.
A reply with no text (empty, null, or reasoning only) is not an answer: its passage is asked again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from wmemb.generate.parse import is_answer

log = logging.getLogger(__name__)


def cache_key(split: str, text: str, template: str, model: str, n: int) -> str:
    payload = json.dumps([split, text, template, model, n], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


class ReplyCache:
    """`key -> record` loaded from `path`; `add` appends and flushes one line."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.entries: dict[str, dict] = {}
        self._load()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = self.path.open("a", encoding="utf-8")

    def _load(self) -> None:
        if not self.path.is_file():
            return
        data = self.path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        if len(complete) < len(data):
            log.warning(
                "%s: dropping a partial last line (%d bytes) left by an interrupted run",
                self.path,
                len(data) - len(complete),
            )
            with self.path.open("r+b") as handle:
                handle.truncate(len(complete))
        bad = empty = 0
        for line in complete.decode("utf-8", errors="replace").splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                key, reply = record["key"], record["reply"]
            except (json.JSONDecodeError, KeyError, TypeError):
                bad += 1
                continue
            if not is_answer(reply):
                empty += 1
                continue
            self.entries.setdefault(key, record)  # first reply wins; later copies never add queries
        if bad:
            log.warning("%s: skipped %d corrupt lines; their passages will be generated again", self.path, bad)
        if empty:
            log.warning("%s: skipped %d empty replies; their passages will be generated again", self.path, empty)
        log.info("%s: %d cached replies", self.path, len(self.entries))

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def get(self, key: str) -> dict | None:
        return self.entries.get(key)

    def add(self, record: dict) -> None:
        self.entries.setdefault(record["key"], record)
        self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._handle.flush()  # in the OS after this: survives the process being killed

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> ReplyCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
