"""Atomic file and folder writes, and line-numbered JSON Lines reading.

Nothing wmemb writes is ever half-written: files go to a temporary sibling and are renamed into
place; model folders are written fully into a temporary sibling folder and then swapped in.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from wmemb.errors import WMEmbError

_UMASK = os.umask(0)
os.umask(_UMASK)


def ensure_writable_dir(path: str | os.PathLike) -> Path:
    """Create `path` if needed and check that files can be created in it."""
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=out, prefix=".wmemb-probe-", delete=True)
        probe.close()
    except OSError as exc:
        raise WMEmbError(
            f"{out}: output folder is not writable ({exc.strerror or exc}); choose another -o/--output"
        ) from None
    return out


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[Any]:
    """Open a temporary file next to `path`; on success rename it over `path`, on error delete it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes files owner-only; give them the usual permissions
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write readable UTF-8 JSON (Chinese stays Chinese, not \\u escapes), atomically."""
    with atomic_write(path) as handle:
        json.dump(obj, handle, ensure_ascii=False, indent=2)
        handle.write("\n")


def write_jsonl(path: str | os.PathLike, records: Iterable[dict]) -> int:
    """Write one JSON object per line, atomically; returns the number of lines."""
    count = 0
    with atomic_write(path) as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False))
            handle.write("\n")
            count += 1
    return count


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; a missing or corrupt file is a WMEmbError naming the file and position."""
    source = Path(path)
    if not source.is_file():
        raise WMEmbError(f"{source}: file not found")
    try:
        return json.loads(source.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise WMEmbError(f"{source}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except UnicodeDecodeError:
        raise WMEmbError(f"{source}: not UTF-8 text; save it as UTF-8 JSON") from None


def read_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for each non-blank line; a corrupt line is reported by number."""
    source = Path(path)
    if not source.is_file():
        raise WMEmbError(f"{source}: file not found")
    with source.open(encoding="utf-8-sig") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise WMEmbError(f"{source}:{lineno}: not valid JSON ({exc.msg}); fix or delete that line") from None
            if not isinstance(obj, dict):
                raise WMEmbError(f"{source}:{lineno}: expected a JSON object per line, got {type(obj).__name__}")
            yield lineno, obj


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary folder; on success it replaces `path` (which may be the input model).

    The old folder is moved aside and deleted only after the new one is in place, so a crash at any
    point leaves either the old or the new complete folder at `path` (plus a `.old`/`.tmp` sibling).
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise WMEmbError(f"{target}: output folder exists; pass --overwrite to replace it")
    if target.exists() and not target.is_dir():
        raise WMEmbError(f"{target}: exists and is not a folder; choose another output path")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
