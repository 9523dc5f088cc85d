"""Jobs for the huey backend's end-to-end tests: each run leaves lines in a file, so runs can be
counted across worker processes that are stopped or killed."""

from __future__ import annotations

import os
import time

from queuekit import JobCollector

collector = JobCollector()


def _append(path: str, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line}\n".encode())  # one O_APPEND write: lines never interleave
    finally:
        os.close(fd)


def record(path: str, item: int) -> dict[str, int]:
    """Append ``item pid`` to ``path``; return both."""
    _append(path, f"{item} {os.getpid()}")
    return {"item": item, "pid": os.getpid()}


def hold(path: str, seconds: float) -> str:
    """Append 'started', sleep ``seconds``, append 'finished'."""
    _append(path, f"started {os.getpid()}")
    time.sleep(seconds)
    _append(path, "finished")
    return "finished"


collector.register_job("hueytest.record", record)
collector.register_job("hueytest.hold", hold)
