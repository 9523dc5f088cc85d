"""The jobs the conformance suite runs, on a collector of their own.

A worker process loads them with ``queuekit worker --app queuekit.testing.jobs:collector``.
They touch files rather than shared memory, so they prove execution across processes.
"""

from __future__ import annotations

import os
import time
from typing import Any

from ..jobs import JobCollector

collector = JobCollector()

PREFIX = "queuekit.conformance."


def echo(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """Return the arguments exactly as the worker received them."""
    return {"args": list(args), "kwargs": kwargs}


def add(a: int, b: int) -> int:
    return a + b


def fail(message: str) -> None:
    raise RuntimeError(message)


def touch(path: str, text: str = "") -> str:
    """Append ``text`` and a newline to ``path``: one line per execution."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(f"{text}\n")
    return path


def stamp(path: str, label: str) -> float:
    """Append ``label start-time`` to ``path`` and return the start time."""
    now = time.time()
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(f"{label} {now!r}\n")
    return now


def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def unserializable() -> object:
    return object()


def pid() -> int:
    return os.getpid()


for _func in (echo, add, fail, touch, stamp, sleep, unserializable, pid):
    collector.register_job(PREFIX + _func.__name__, _func)
