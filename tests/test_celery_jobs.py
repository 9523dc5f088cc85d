"""Jobs the celery tests run in worker processes (``--app test_celery_jobs:collector`` with
``tests/`` on PYTHONPATH). No tests live here."""

from __future__ import annotations

import os
import time

from queuekit.exceptions import TimeLimitExceeded
from queuekit.jobs import JobCollector

collector = JobCollector()


def _append(path: str, line: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def marked_sleep(path: str, seconds: float) -> str:
    """Append 'start <pid>', sleep, append 'done <pid>': each run leaves its trace."""
    _append(path, f"start {os.getpid()}")
    time.sleep(seconds)
    _append(path, f"done {os.getpid()}")
    return "slept"


def stubborn(path: str, seconds: float) -> str:
    """Swallow queuekit's soft time limit and keep running: only a hard limit stops it."""
    _append(path, f"start {os.getpid()}")
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            time.sleep(0.05)
        except TimeLimitExceeded:
            _append(path, "soft limit ignored")
    _append(path, "done")
    return "finished"


def record(path: str, text: str) -> str:
    """Append ``text``: one line per execution."""
    _append(path, text)
    return text


collector.register_job("celerytest.marked_sleep", marked_sleep)
collector.register_job("celerytest.stubborn", stubborn)
collector.register_job("celerytest.record", record)
