"""Frozen dataclasses to JSON-safe data and back (for the saved lab state)."""

from __future__ import annotations

import dataclasses
import types
import typing
from functools import cache
from typing import Any


def to_data(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: to_data(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (tuple, list)):
        return [to_data(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_data(v) for k, v in obj.items()}
    return obj


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_data(tp: Any, data: Any) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        hints = _hints(tp)
        return tp(**{k: from_data(hints[k], v) for k, v in data.items() if k in hints})
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if data is None:
            return None
        for arg in args:
            if arg is type(None):
                continue
            if arg in (int, str, float, bool):
                if isinstance(data, arg):
                    return data
                continue
            try:
                return from_data(arg, data)
            except (TypeError, ValueError, AttributeError):
                continue
        return data
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(from_data(args[0], v) for v in data)
        return tuple(from_data(a, v) for a, v in zip(args, data, strict=True))
    if origin is list:
        (item,) = typing.get_args(tp)
        return [from_data(item, v) for v in data]
    if origin is dict:
        _k, v_tp = typing.get_args(tp)
        return {k: from_data(v_tp, v) for k, v in data.items()}
    return data
