"""Refuse, in the caller's process, any value that would not survive a JSON round trip unchanged."""

from __future__ import annotations

import json
import math
from typing import Any

from .exceptions import InvalidArguments

_SCALARS = (str, int, bool, type(None))
_FIX = "pass only str, int, float, bool, None, lists and dicts with str keys"


def _describe(value: Any) -> str:
    hints: dict[type, str] = {
        tuple: "a tuple (JSON turns it into a list; pass a list)",
        set: "a set (JSON has no sets; pass a sorted list)",
        frozenset: "a frozenset (JSON has no sets; pass a sorted list)",
        bytes: "bytes (encode them, e.g. base64, and pass a str)",
        bytearray: "a bytearray (encode it, e.g. base64, and pass a str)",
    }
    hint = hints.get(type(value))
    if hint:
        return hint
    name = type(value).__name__
    if name in ("datetime", "date", "time"):
        return f"a {name} (pass value.isoformat() and parse it in the job)"
    if name == "Decimal":
        return "a Decimal (pass str(value))"
    if name == "UUID":
        return "a UUID (pass str(value))"
    return f"an object of type {type(value).__module__}.{type(value).__qualname__}"


def _fail(path: str, what: str) -> InvalidArguments:
    return InvalidArguments(f"{path} is {what}, which does not survive a JSON round trip; {_FIX}.")


def check_json(value: Any, path: str) -> None:
    """Raise :class:`InvalidArguments` naming ``path`` if ``value`` is not plain JSON.

    Subclasses (an IntEnum, a str subclass, an OrderedDict) are refused too: the worker
    would receive the base type, not the value the caller passed.
    """
    kind = type(value)
    if kind in _SCALARS:
        return
    if kind is float:
        if not math.isfinite(value):
            raise _fail(path, f"the float {value!r}")
        return
    if kind is list:
        for index, item in enumerate(value):
            check_json(item, f"{path}[{index}]")
        return
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise InvalidArguments(
                    f"{path} has the key {key!r} of type {type(key).__name__}; JSON object keys "
                    f"must be str, and this one would come back as {_json_key(key)}. Convert the "
                    f"keys to str."
                )
            check_json(item, f"{path}[{key!r}]")
        return
    raise _fail(path, f"{_describe(value)}: {_short_repr(value)}")


def _json_key(key: Any) -> str:
    try:
        return repr(next(iter(json.loads(json.dumps({key: 0})))))
    except (TypeError, ValueError):
        return "nothing: json refuses it"


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_call(args: Any, kwargs: Any) -> None:
    """Check a job's positional and keyword arguments, naming the first offending path."""
    if type(args) not in (list, tuple):
        raise InvalidArguments(
            f"args must be a list or tuple of positional arguments, got {_short_repr(args)}; "
            f"pass args=[...]."
        )
    for index, item in enumerate(args):
        check_json(item, f"args[{index}]")
    if type(kwargs) is not dict:
        raise InvalidArguments(
            f"kwargs must be a dict of keyword arguments, got {_short_repr(kwargs)}; "
            f"pass kwargs={{...}}."
        )
    for key, item in kwargs.items():
        if type(key) is not str:
            raise InvalidArguments(f"kwargs has the non-str key {key!r}; keyword names are str.")
        check_json(item, f"kwargs[{key!r}]")
