"""queuekit on rq: every queuekit job is an rq job calling :func:`run` with its JSON envelope.

Producers enqueue through :class:`RqQueue`; workers are rq's own (``queuekit worker --backend
rq``), restricted to run queuekit's entry point only.
"""

from __future__ import annotations

from .queue import RedisUnavailable, RqQueue
from .worker import (
    ENTRY_POINT,
    JobFailed,
    JobRefused,
    QueuekitDeathPenalty,
    QueuekitJob,
    QueuekitWorker,
    RqJobQueue,
    on_failure,
    run,
)

__all__ = [
    "ENTRY_POINT",
    "JobFailed",
    "JobRefused",
    "QueuekitDeathPenalty",
    "QueuekitJob",
    "QueuekitWorker",
    "RedisUnavailable",
    "RqJobQueue",
    "RqQueue",
    "on_failure",
    "run",
]
