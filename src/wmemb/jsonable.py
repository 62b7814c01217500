"""Dataclasses to and from the JSON they are recorded as (each stage's summary in state.json, finetune_metrics.json).

`JsonRecord.to_json` writes a dataclass as JSON values (paths as strings, tuples as lists); `from_json` reads it
back by the fields' types, nested dataclasses included, so a reader gets typed fields instead of `.get` chains:
a renamed or missing field fails where the record is read, not as an empty report section.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

D = TypeVar("D")
R = TypeVar("R", bound="JsonRecord")


def to_jsonable(obj: Any) -> Any:
    """`obj` as JSON values: dataclasses as dicts, paths as strings, tuples and sets as lists, keys as strings."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def from_jsonable(cls: type[D], obj: dict) -> D:
    """A dataclass `cls` from what `to_jsonable` wrote: keys it has no field for are left out, a missing field
    takes its default; a missing field without one raises ValueError."""
    if not isinstance(obj, dict):
        raise ValueError(f"{cls.__name__}: expected a JSON object, got {type(obj).__name__}")
    hints = typing.get_type_hints(cls)
    fields = [spec for spec in dataclasses.fields(cls) if spec.init]  # type: ignore[arg-type]
    required = [spec for spec in fields if spec.default is spec.default_factory is dataclasses.MISSING]
    missing = [spec.name for spec in required if spec.name not in obj]
    if missing:
        raise ValueError(f"{cls.__name__}: missing {', '.join(missing)}")
    return cls(**{spec.name: _value(hints[spec.name], obj[spec.name]) for spec in fields if spec.name in obj})


def _value(kind: Any, value: Any) -> Any:
    """`value` as the type `kind` (a field's annotation)."""
    if value is None:
        return None
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return _value(next(arg for arg in args if arg is not type(None)), value)
    if origin is list:
        return [_value(args[0], item) for item in value]
    if origin is tuple:
        kinds = [args[0]] * len(value) if len(args) == 2 and args[1] is Ellipsis else args
        return tuple(_value(item_kind, item) for item_kind, item in zip(kinds, value))
    if origin is dict and args:
        return {key: _value(args[1], item) for key, item in value.items()}
    if isinstance(kind, type) and issubclass(kind, JsonRecord):
        return kind.from_json(value)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return from_jsonable(kind, value)
    if kind is Path:
        return Path(value)
    return value


class JsonRecord:
    """A dataclass recorded as JSON: `to_json` writes it, `from_json` reads it back (see the module's note)."""

    def to_json(self) -> dict:
        return to_jsonable(self)

    @classmethod
    def from_json(cls: type[R], obj: dict) -> R:
        return from_jsonable(cls, obj)
