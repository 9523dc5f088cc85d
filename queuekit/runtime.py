"""The one code path every worker uses to turn a message into a call.

``execute`` never raises for a bad message or a failing job: it returns an :class:`Outcome`
that says what happened, so the native worker loop around it keeps running.
"""

from __future__ import annotations

import contextlib
import json
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from . import events
from .envelope import Envelope, peek_id
from .exceptions import InvalidMessage, UnknownJob
from .jsoncheck import check_json
from .results import ErrorInfo, JobResult, JobStatus

if TYPE_CHECKING:
    from .base import BaseQueue

logger = events.logger


@dataclass
class Outcome:
    """What happened to one message: ran (succeeded or failed) or was refused."""

    status: JobStatus
    envelope: Envelope | None
    job_id: str | None
    return_value: Any = None
    error: ErrorInfo | None = None
    started_at: float = 0.0
    finished_at: float = 0.0
    #: True when the worker refused the message without running anything.
    rejected: bool = False
    #: The message as received, kept for messages set aside.
    raw: bytes | str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status is JobStatus.SUCCEEDED

    def to_result(self, queue: BaseQueue | None = None) -> JobResult:
        envelope = self.envelope
        return JobResult(
            id=self.job_id or "",
            job_name=envelope.job if envelope else "",
            status=self.status,
            queue=envelope.queue if envelope else "",
            return_value=self.return_value,
            error=self.error,
            enqueued_at=_dt(envelope.enqueued_at) if envelope else None,
            started_at=_dt(self.started_at) if self.started_at else None,
            finished_at=_dt(self.finished_at) if self.finished_at else None,
            attempts=envelope.attempt if envelope else 0,
            backend=queue,
        )


def _dt(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, timezone.utc)


def error_info(exc: BaseException) -> ErrorInfo:
    """Type, message and formatted traceback of ``exc``."""
    kind = type(exc)
    name = (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
    return ErrorInfo(name, str(exc), "".join(traceback.format_exception(exc)))


def _reject(queue: BaseQueue, raw: Any, envelope: Envelope | None, exc: Exception) -> Outcome:
    job_id = envelope.id if envelope else peek_id(raw)
    now = time.time()
    error = ErrorInfo(type(exc).__name__, str(exc))
    logger.error(
        "queuekit worker refused message %s on backend %s: %s; it was set aside",
        job_id,
        queue.backend_name,
        exc,
    )
    events.emit(
        events.Event(
            "rejected",
            job_id,
            envelope.job if envelope else None,
            envelope.queue if envelope else None,
            queue.backend_name,
            envelope.attempt if envelope else 1,
            error=str(exc),
        )
    )
    keep = raw if isinstance(raw, (bytes, str)) else None
    return Outcome(JobStatus.FAILED, envelope, job_id, None, error, now, now, True, keep)


@contextlib.contextmanager
def _app_context(app: Any) -> Iterator[None]:
    factory = getattr(app, "app_context", None)
    if callable(factory):
        with factory():
            yield
    else:
        yield


def execute(queue: BaseQueue, message: bytes | str | dict[str, Any] | Envelope) -> Outcome:
    """Decode, look up, run and report one job; bad messages are refused, not raised."""
    try:
        envelope = message if isinstance(message, Envelope) else Envelope.decode(message)
    except InvalidMessage as exc:
        return _reject(queue, message, None, exc)
    spec = queue.jobs.get(envelope.job)
    if spec is None:
        unknown = UnknownJob(
            f"job {envelope.job!r} is not registered in this worker; only registered jobs run "
            f"(import the module that defines it in the worker's --app)"
        )
        return _reject(queue, message, envelope, unknown)

    started = time.time()
    name, job_id = envelope.job, envelope.id
    events.emit(
        events.Event("started", job_id, name, envelope.queue, queue.backend_name, envelope.attempt)
    )
    try:
        with _app_context(queue.app):
            value = spec.func(*envelope.args, **envelope.kwargs)
        check_json(value, "the return value")
    except Exception as exc:
        finished = time.time()
        info = error_info(exc)
        logger.error(
            "job %s (%s) failed on attempt %d: %s: %s\n%s",
            job_id,
            name,
            envelope.attempt,
            info.type,
            info.message,
            info.traceback,
        )
        events.emit(
            events.Event(
                "failed",
                job_id,
                name,
                envelope.queue,
                queue.backend_name,
                envelope.attempt,
                error=f"{info.type}: {info.message}",
            )
        )
        return Outcome(JobStatus.FAILED, envelope, job_id, None, info, started, finished)
    finished = time.time()
    events.emit(
        events.Event(
            "succeeded",
            job_id,
            name,
            envelope.queue,
            queue.backend_name,
            envelope.attempt,
            detail={"duration": finished - started},
        )
    )
    return Outcome(JobStatus.SUCCEEDED, envelope, job_id, value, None, started, finished)


def dumps_result(value: Any) -> str:
    """A return value as JSON text, for backends that store results as strings."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False)
