"""Atomic file and folder writes, and line-numbered JSON Lines reading.

Nothing wmemb writes is ever half-written: files go to a temporary sibling and are renamed into
place; model folders are written fully into a temporary sibling folder and then swapped in.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from wmemb.errors import WMEmbError

log = logging.getLogger(__name__)

_UMASK = os.umask(0)
os.umask(_UMASK)


def _check_can_create(path: Path, what: str, inside: bool = False) -> None:
    """Entries can be created in `path`'s folder (`inside`: in `path` itself), or, where that folder does
    not exist yet, in its nearest existing ancestor (probed with a folder that is removed at once)."""
    ancestor = path if inside else path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise WMEmbError(f"{path}: cannot create the {what}, {ancestor} is a file; choose another path")
    try:
        os.rmdir(tempfile.mkdtemp(dir=ancestor, prefix=".wmemb-probe-"))
    except OSError as exc:
        raise WMEmbError(
            f"{path}: cannot create the {what}, {ancestor} is not writable ({exc.strerror or exc}); choose another path"
        ) from None


def check_output_file(path: str | os.PathLike, flag: str = "-o/--output") -> Path:
    """Before any work: `path` can be written as a file (an existing file is replaced, a folder is an error)."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise WMEmbError(f"{target}: {flag} names a folder; name a file to write instead")
    _check_can_create(target, "output file")
    return target


def check_output_dir(path: str | os.PathLike, flag: str = "-o/--output") -> Path:
    """Before any work: files can be created in the folder `path` (created later, when written)."""
    out = Path(path).expanduser()
    if out.exists() and not out.is_dir():
        raise WMEmbError(f"{out}: {flag} names a file; pass a folder")
    _check_can_create(out, "output files", inside=True)
    return out


def check_output_model_dir(path: str | os.PathLike, overwrite: bool, flag: str = "OUTPUT") -> Path:
    """Before any work: `path` can be replaced by a new folder (see `atomic_dir`)."""
    target = Path(path).expanduser()
    if target.exists() and not target.is_dir():
        raise WMEmbError(f"{target}: {flag} exists and is not a folder; choose another output path")
    if target.exists() and not overwrite:
        raise WMEmbError(f"{target}: output folder exists; pass --overwrite to replace it")
    _check_can_create(target, "output folder")
    return target


def ensure_writable_dir(path: str | os.PathLike, flag: str = "-o/--output") -> Path:
    """Create `path` if needed and check that files can be created in it."""
    out = check_output_dir(path, flag)
    out.mkdir(parents=True, exist_ok=True)
    return out


def reject_overwriting_inputs(
    outputs: Iterable[str | os.PathLike], inputs: Iterable[tuple[str, str | os.PathLike | None]]
) -> None:
    """No command writes over one of its inputs: an output must not be an input, and an output folder
    (replaced as a whole) must not hold one. `inputs` are (what the user calls it, path) pairs."""
    given = [(role, Path(path).expanduser()) for role, path in inputs if path is not None]
    for output in (Path(out).expanduser() for out in outputs):
        target = output.resolve()
        for role, source in given:
            if not source.exists():
                continue
            if _same_file(source, output) or target in source.resolve().parents:
                raise WMEmbError(
                    f"{output}: this output would write over the input {role} ({source}); choose another output path"
                )


def _same_file(a: Path, b: Path) -> bool:
    """Same path after resolving links, or the same file under two names (a hard link)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


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


def _existing_file(path: str | os.PathLike) -> Path:
    source = Path(path).expanduser()
    if source.is_dir():
        raise WMEmbError(f"{source}: is a folder; pass a file")
    if not source.is_file():
        raise WMEmbError(f"{source}: file not found")
    return source


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    keys = [key for key, _ in pairs]
    if len(set(keys)) < len(keys):
        twice = next(key for index, key in enumerate(keys) if key in keys[:index])
        raise ValueError(twice)
    return dict(pairs)


def read_json(path: str | os.PathLike, unique_keys: bool = False, remedy: str | None = None) -> Any:
    """Read a JSON file; a missing, unreadable or corrupt file is a WMEmbError naming the file and position.

    `unique_keys`: a key given twice in one object is an error (JSON readers silently keep the last).
    `remedy`: what the user should do about a corrupt file, when not "fix it or write it again"."""
    source = _existing_file(path)
    try:
        return json.loads(
            source.read_text(encoding="utf-8-sig"), object_pairs_hook=_unique_keys if unique_keys else None
        )
    except json.JSONDecodeError as exc:
        raise WMEmbError(
            f"{source}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}; "
            f"{remedy or 'fix it or write it again'}"
        ) from None
    except UnicodeDecodeError:
        raise WMEmbError(f"{source}: not UTF-8 text; {remedy or 'save it as UTF-8 JSON'}") from None
    except ValueError as exc:  # from _unique_keys
        raise WMEmbError(
            f"{source}: id {exc.args[0]!r} appears twice in the same object; ids must be unique, rename or remove one"
        ) from None
    except OSError as exc:
        raise WMEmbError(f"{source}: cannot be read ({exc.strerror or exc})") from None


def read_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for each non-blank line; a corrupt line is reported by number."""
    source = _existing_file(path)
    with source.open(encoding="utf-8-sig") as handle:
        try:
            for lineno, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise WMEmbError(
                        f"{source}:{lineno}: not valid JSON ({exc.msg}); fix or delete that line"
                    ) from None
                if not isinstance(obj, dict):
                    raise WMEmbError(f"{source}:{lineno}: expected a JSON object per line, got {type(obj).__name__}")
                yield lineno, obj
        except UnicodeDecodeError:
            raise WMEmbError(f"{source}: not UTF-8 text; save the file as UTF-8") from None


def folder_size(path: str | os.PathLike) -> int:
    """Bytes of the files in a folder (what a copy of it needs on disk)."""
    return sum(file.stat().st_size for file in Path(path).rglob("*") if file.is_file())


def _megabytes(size: int) -> str:
    return f"{size / 1e6:,.0f} MB" if size >= 1e6 else f"{size / 1e3:,.0f} kB"


def _is_disk_full(exc: BaseException, folder: Path, needed: int | None) -> bool:
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return True
    if "No space left on device" in str(exc):  # safetensors' SafetensorError carries the OS error as text only
        return True
    # torch.save reports a short write only as its archive writer's "unexpected pos", without the cause
    return "inline_container" in str(exc) and needed is not None and _free_space(folder) < needed


def _free_space(folder: Path) -> int:
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return shutil.disk_usage(existing).free


@contextlib.contextmanager
def full_disk_is_an_error(folder: Path, what: str, needed: int | None = None) -> Iterator[None]:
    """A full disk while writing `what` under `folder` becomes one line: where, the space free and needed, and
    that nothing finished is lost (each stage's outputs are complete before they replace anything)."""
    try:
        yield
    except Exception as exc:
        if not _is_disk_full(exc, folder, needed):
            raise
        need = f", it needs about {_megabytes(needed)}" if needed else ""
        raise WMEmbError(
            f"{folder}: the disk is full ({_megabytes(_free_space(folder))} free) while writing {what}{need}; "
            "free space there (or choose another folder) and run again: earlier stages and files already "
            "written are kept"
        ) from None


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, overwrite: bool = False, needed: int | None = None) -> Iterator[Path]:
    """Yield a fresh temporary folder; on success it replaces `path` (which may be the input model).

    The old folder is moved aside and deleted only after the new one is in place, so a crash at any
    point leaves either the old or the new complete folder at `path` (plus a `.old`/`.tmp` sibling,
    named with the writer's process id; the next write removes those of processes that are gone).
    `needed`: about how many bytes the folder takes, named if the disk fills up while it is written.
    """
    target = check_output_model_dir(path, overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_siblings(target)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp"))
    os.chmod(tmp, 0o777 & ~_UMASK)  # mkdtemp makes folders owner-only; give the model folder the usual permissions
    # around the clean-up, so the free space named is that left once the partial folder is gone
    with full_disk_is_an_error(target, "the model folder", needed):
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


def _remove_stale_siblings(target: Path) -> None:
    """Delete what a killed `atomic_dir` left beside `target`: its partial `.tmp` folder, and its `.old`
    folder once `target` exists again (a kill between the two renames leaves `.old` as the only
    complete copy: kept). A sibling whose process still runs is another writer's, and kept."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(?:(\d+)\.[^/]*\.tmp|old-(\d+))")
    for sibling in target.parent.iterdir():
        match = pattern.fullmatch(sibling.name)
        if not match or not sibling.is_dir() or _process_alive(int(match[1] or match[2])):
            continue
        if match[2] and not target.exists():
            log.warning("%s: kept %s, the only complete copy an interrupted write left", target, sibling)
            continue
        log.info("removing %s, left by an interrupted write of %s", sibling, target)
        shutil.rmtree(sibling, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True
