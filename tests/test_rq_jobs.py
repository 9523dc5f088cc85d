"""Jobs that the rq backend's tests run in worker processes (this module holds no tests).

A worker loads them with ``--app test_rq_jobs:collector`` and ``PYTHONPATH`` set to this folder.
"""

from __future__ import annotations

import os
import time

from queuekit import JobCollector

collector = JobCollector()

PREFIX = "rqtest."
SQUARE, HOLD, HOLD_RETRIED, WHERE = (
    PREFIX + n for n in ("square", "hold", "hold_retried", "where")
)


def square(path: str, number: int) -> int:
    """Append ``number`` to ``path`` (one line per run) and return its square."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(f"{number}\n")
    return number * number


def hold(path: str, seconds: float) -> int:
    """Append this process's pid to ``path`` (one line per run), then sleep ``seconds``."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()}\n")
    time.sleep(seconds)
    return os.getpid()


def where() -> int:
    """The pid of the process running the job."""
    return os.getpid()


collector.register_job(SQUARE, square)
collector.register_job(HOLD, hold)
# rq holds retries for this one: a run killed mid-job would be re-run by rq, unless queuekit stops it.
collector.register_job(HOLD_RETRIED, hold, (), {"retries": 2, "backoff": 0.0})
collector.register_job(WHERE, where)
