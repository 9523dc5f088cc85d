"""Jobs for the durability tests: each execution appends one line to a file, so runs can be counted
across worker processes that get killed."""

from __future__ import annotations

import os
import time

from queuekit import JobCollector

collector = JobCollector()


def record(path: str, item: int, seconds: float = 0.0) -> int:
    """Sleep ``seconds``, then append ``item pid`` to ``path`` (one O_APPEND write)."""
    if seconds:
        time.sleep(seconds)
    line = f"{item} {os.getpid()}\n".encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    return item


collector.register_job("durable.record", record)


def needs(path: str) -> str:
    """Fail until ``path`` exists: a job whose cause can be fixed before a retry."""
    with open(path, encoding="utf-8") as handle:
        return handle.read()


collector.register_job("durable.needs", needs)
