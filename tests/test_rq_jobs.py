"""Jobs that the rq backend's tests run in worker processes (this module holds no tests), and
the key prefix that keeps one test run's rq keys apart from another's.

A worker loads them with ``--app test_rq_jobs:collector`` and ``PYTHONPATH`` set to this folder.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from queuekit import JobCollector

# Each test run keeps its rq keys under a prefix of its own (rq reads RQ_KEY_PREFIX when it is
# first imported, and the workers and `rq info` the tests start inherit it), so test runs that
# share database 2 at the same time neither see nor delete each other's jobs.
if "rq.defaults" in sys.modules:  # rq was imported before this module: follow it
    RQ_PREFIX: str = sys.modules["rq.defaults"].RQ_KEY_PREFIX
else:
    RQ_PREFIX = os.environ.get("RQ_KEY_PREFIX") or f"rqtest{os.getpid()}"
os.environ["RQ_KEY_PREFIX"] = RQ_PREFIX


def clean(client: Any) -> None:
    """Delete every key of this run (rq's and queuekit's, all under the prefix) from database 2."""
    keys = list(client.scan_iter(match=f"{RQ_PREFIX}:*", count=1000))
    for start in range(0, len(keys), 500):
        client.unlink(*keys[start : start + 500])


collector = JobCollector()

PREFIX = "rqtest."
SQUARE, HOLD, HOLD_RETRIED, WHERE, STUBBORN = (
    PREFIX + n for n in ("square", "hold", "hold_retried", "where", "stubborn")
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


def stubborn(path: str) -> None:
    """Stamp the run's start time on ``path``, then fail."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(f"{time.time()!r}\n")
    raise OSError("stubborn")


def where() -> int:
    """The pid of the process running the job."""
    return os.getpid()


collector.register_job(SQUARE, square)
collector.register_job(HOLD, hold)
# rq holds retries for this one: a run killed mid-job would be re-run by rq, unless queuekit stops it.
collector.register_job(HOLD_RETRIED, hold, (), {"retries": 2, "backoff": 0.0})
collector.register_job(WHERE, where)
# A callable backoff: rq cannot know the delays at enqueue; the worker's runtime sets each one.
collector.register_job(
    STUBBORN, stubborn, (), {"retries": 2, "backoff": lambda attempt, exc: 0.3 * attempt}
)
