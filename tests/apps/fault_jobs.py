"""Jobs for the fault suite (tests/faults.py): each execution appends a start line and a done
line to a file, so lost and duplicated runs can be counted across workers that are SIGKILLed
and brokers that are restarted (a file survives both; a Redis key would not survive a restart)."""

from __future__ import annotations

import os
import time

from queuekit import JobCollector

collector = JobCollector()

RECORD = "faults.record"


def _append(path: str, line: str) -> None:
    # One O_APPEND write per line: lines from several processes never interleave.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def record(path: str, item: int, seconds: float = 0.0) -> int:
    """Append ``S item pid``, sleep ``seconds``, then append ``D item pid``."""
    _append(path, f"S {item} {os.getpid()}\n")
    if seconds:
        time.sleep(seconds)
    _append(path, f"D {item} {os.getpid()}\n")
    return item


collector.register_job(RECORD, record)


#: A password the secrets tests grep every output for; it must never appear.
SECRET = "Faults-S3cret-pw"
LEAK = "faults.leak"


def leak() -> None:
    """Fail the way a database driver does: with its connection URL, password included."""
    raise ConnectionError(f"could not reach postgresql://app:{SECRET}@db.invalid:5432/app")


collector.register_job(LEAK, leak)
