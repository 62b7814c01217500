"""Append-only JSON Lines cache of model replies, so an interrupted `prepare` resumes.

Each reply is one line, written and flushed as soon as it arrives; a `kill -9` loses at most the
line being written. On open, a partial last line is cut off (it would otherwise glue onto the next
append) and corrupt lines elsewhere are skipped, each counted (`torn_bytes`, `corrupt`, `empty`) and logged.
The file is read line by line and only what prepare reads back is held (`CachedReply`): at 10^5 replies a
whole record per reply would cost ~100 MB more. Entries are keyed by a hash of
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
from typing import NamedTuple

from wmemb.generate.parse import is_answer

log = logging.getLogger(__name__)


# json.dumps(..., ensure_ascii=False) would build a new encoder per call: half of the key's time, 1 s of a restart
# at 10^5 passages. The same settings, so the same bytes: the keys of existing caches stay valid.
_KEY_ENCODER = json.JSONEncoder(ensure_ascii=False)


def cache_key(split: str, text: str, template: str, model: str, n: int) -> str:
    payload = _KEY_ENCODER.encode([split, text, template, model, n])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


class CachedReply(NamedTuple):
    """What prepare reads back of a cached line: the reply and its token counts (0 where a server sent none)."""

    reply: str
    prompt_tokens: int
    completion_tokens: int

    @classmethod
    def of(cls, record: dict) -> CachedReply:
        return cls(record["reply"], int(record.get("prompt_tokens") or 0), int(record.get("completion_tokens") or 0))


class ReplyCache:
    """`key -> CachedReply` loaded from `path`; `add` appends and flushes one line (a whole record)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.entries: dict[str, CachedReply] = {}
        self.torn_bytes = self.corrupt = self.empty = 0  # of the lines skipped on open
        self._load()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = self.path.open("a", encoding="utf-8")

    def _load(self) -> None:
        if not self.path.is_file():
            return
        complete = 0  # bytes up to the end of the last whole line
        with self.path.open("rb") as handle:
            for line in handle:
                if not line.endswith(b"\n"):
                    self.torn_bytes = len(line)
                    break
                complete += len(line)
                self._read_line(line)
        if self.torn_bytes:
            log.warning(
                "%s: dropping a partial last line (%d bytes) left by an interrupted run",
                self.path,
                self.torn_bytes,
            )
            with self.path.open("r+b") as handle:
                handle.truncate(complete)
        if self.corrupt:
            log.warning("%s: skipped %d corrupt lines; their passages will be generated again", self.path, self.corrupt)
        if self.empty:
            log.warning("%s: skipped %d empty replies; their passages will be generated again", self.path, self.empty)
        log.info("%s: %d cached replies", self.path, len(self.entries))

    def _read_line(self, line: bytes) -> None:
        if not line.strip():
            return
        try:
            record = json.loads(line)
            key, entry = record["key"], CachedReply.of(record)
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError):
            self.corrupt += 1
            return
        if not is_answer(entry.reply):
            self.empty += 1
            return
        self.entries.setdefault(key, entry)  # first reply wins; later copies never add queries

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def get(self, key: str) -> CachedReply | None:
        return self.entries.get(key)

    def add(self, record: dict) -> None:
        self.entries.setdefault(record["key"], CachedReply.of(record))
        self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._handle.flush()  # in the OS after this: survives the process being killed

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> ReplyCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
