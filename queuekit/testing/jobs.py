"""The jobs the conformance suite runs, on a collector of their own.

A worker process loads them with ``queuekit worker --app queuekit.testing.jobs:collector``.
They touch files rather than shared memory, so they prove execution across processes.
"""

from __future__ import annotations

import os
import time
from typing import Any

from ..base import BaseQueue
from ..jobs import JobCollector
from ..policies import JobContext, Retry, current_job


class ConformanceJobs(JobCollector):
    """Registers each job only where the queue declares what the job's options need, so one
    collector serves every backend (a worker loads it with ``--app ...:collector``)."""

    def register_jobs(self, queue: BaseQueue) -> BaseQueue:
        for name, (func, args, kwargs) in self.jobs.items():
            needs = [cap for option, cap in _NEEDS.items() if option in kwargs]
            if all(getattr(queue, f"supports_{cap}") for cap in needs):
                queue.register_job(name, func, *args, **kwargs)
        return queue


_NEEDS = {"retries": "retries", "unique": "unique", "timeout": "timeout"}

collector = ConformanceJobs()

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


def _count_lines(path: str) -> int:
    try:
        with open(path, encoding="utf-8") as handle:
            return sum(1 for _ in handle)
    except FileNotFoundError:
        return 0


def flaky(path: str, failures: int) -> int:
    """Stamp the run; fail the first ``failures`` runs, then return the run number."""
    stamp(path, "run")
    runs = _count_lines(path)
    if runs <= failures:
        raise RuntimeError(f"flaky failure {runs} of {failures}")
    return runs


def picky(path: str, error: str) -> None:
    """Stamp the run and raise PermissionError (discarded) or KeyError (not retried)."""
    stamp(path, "run")
    raise {"permission": PermissionError, "key": KeyError}[error](f"picky {error}")


def asks_retry(path: str, delay: float) -> int:
    """Ask for one retry after ``delay`` seconds with Retry, then succeed."""
    stamp(path, "run")
    runs = _count_lines(path)
    if runs == 1:
        raise Retry(delay=delay)
    return runs


def introspect(context: JobContext, label: str) -> dict[str, Any]:
    """Return what the job knows about itself, from its context and current_job()."""
    current = current_job()
    return {
        "label": label,
        "job_id": context.job_id,
        "attempt": context.attempt,
        "same": current == context,
    }


def once(path: str, text: str) -> str:
    """A unique job: append ``text`` to ``path``."""
    return touch(path, text)


for _func in (echo, add, fail, touch, stamp, sleep, unserializable, pid):
    collector.register_job(PREFIX + _func.__name__, _func)
collector.register_job(PREFIX + "flaky", flaky, (), {"retries": 3, "backoff": 0.0})
collector.register_job(
    PREFIX + "picky",
    picky,
    (),
    {"retries": 3, "backoff": 0.0, "discard_on": (PermissionError,), "retry_on": (OSError,)},
)
collector.register_job(PREFIX + "asks_retry", asks_retry, (), {"retries": 1})
collector.register_job(PREFIX + "introspect", introspect, (), {"takes_context": True})
collector.register_job(PREFIX + "once", once, (), {"unique": True, "unique_ttl": 60})
collector.register_job(PREFIX + "slow", sleep, (), {"timeout": 0.5, "retries": 1, "backoff": 0.0})
