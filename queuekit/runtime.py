"""The one code path every worker uses to turn a message into a call.

``execute`` never raises for a bad message or a failing job: it returns an :class:`Outcome`
that says what happened, so the native worker loop around it keeps running.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from . import events, policies
from .envelope import Envelope, peek_id
from .exceptions import InvalidMessage, TimeLimitExceeded, UnknownJob
from .jsoncheck import check_json
from .redact import redact
from .results import ErrorInfo, JobResult, JobStatus

if TYPE_CHECKING:
    from .base import BaseQueue, RegisteredJob
    from .stores import FailureReason


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
    #: Seconds until the next attempt, when the job failed and its policy retries it.
    retry_in: float | None = None
    #: Why a FAILED job failed for good: retries exhausted, discarded, or refused.
    failure: FailureReason | None = None

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
    # A driver's error often quotes its connection URL; the password stays out of logs,
    # results and the failed store like everywhere else.
    import traceback  # a failure needs it, not ``import queuekit``

    return ErrorInfo(name, redact(str(exc)), redact("".join(traceback.format_exception(exc))))


def _reject(queue: BaseQueue, raw: Any, envelope: Envelope | None, exc: Exception) -> Outcome:
    job_id = envelope.id if envelope else peek_id(raw)
    now = time.time()
    error = ErrorInfo(type(exc).__name__, redact(str(exc)))
    events.logger.error(
        "queuekit worker refused message %s on backend %s: %s; it was set aside",
        job_id,
        queue.backend_name,
        error.message,
    )
    events.emit(
        events.Event(
            "rejected",
            job_id,
            envelope.job if envelope else None,
            envelope.queue if envelope else None,
            queue.backend_name,
            envelope.attempt if envelope else 1,
            error=error.message,
        )
    )
    keep = raw if isinstance(raw, (bytes, str)) else None
    return Outcome(
        JobStatus.FAILED, envelope, job_id, None, error, now, now, True, keep, None, "rejected"
    )


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
        if isinstance(message, Envelope):
            envelope = message
            envelope.codec = queue.codec
        else:
            envelope = Envelope.decode(message, queue.codec)
    except InvalidMessage as exc:
        return _reject(queue, message, None, exc)
    spec = queue.jobs.get(envelope.job)
    if spec is None:
        unknown = UnknownJob(
            f"job {envelope.job!r} is not registered in this worker; only registered jobs run "
            f"(import the module that defines it in the worker's --app)"
        )
        return _reject(queue, message, envelope, unknown)

    name, job_id, attempt = envelope.job, envelope.id, envelope.attempt
    policy = _policy(spec, envelope)
    context = policies.context_for(envelope, policy.retries, queue.backend_name)
    started = time.time()
    if events.enabled("started"):
        events.emit(
            events.Event("started", job_id, name, envelope.queue, queue.backend_name, attempt)
        )
    try:
        value = _run(queue, spec, envelope, context, envelope.options.get("timeout"))
        check_json(value, "the return value")
    except Exception as exc:
        finished = time.time()
        info = error_info(exc)
        decision, delay = policy.decide(attempt, exc)
        if isinstance(exc, policies.Retry) and decision == "fail":
            info = ErrorInfo(
                info.type,
                f"{info.message}; no retries left (retries={policy.retries}): set retries= "
                f"on the job to allow more",
                info.traceback,
            )
        events.logger.error(
            "job %s (%s) failed on attempt %d: %s: %s%s\n%s",
            job_id,
            name,
            attempt,
            info.type,
            info.message,
            {"retry": f"; retrying in {delay or 0:.3g} s", "discard": "; discarded"}.get(
                decision, ""
            ),
            info.traceback,
        )
        events.emit(
            events.Event(
                "failed",
                job_id,
                name,
                envelope.queue,
                queue.backend_name,
                attempt,
                error=f"{info.type}: {info.message}",
                detail={"decision": decision, "retry_in": delay},
            )
        )
        if decision == "retry":
            return Outcome(
                JobStatus.SCHEDULED, envelope, job_id, None, info, started, finished, retry_in=delay
            )
        reason: FailureReason = "discarded" if decision == "discard" else "exhausted"
        return Outcome(
            JobStatus.FAILED, envelope, job_id, None, info, started, finished, failure=reason
        )
    finished = time.time()
    if events.enabled("succeeded"):
        events.emit(
            events.Event(
                "succeeded",
                job_id,
                name,
                envelope.queue,
                queue.backend_name,
                attempt,
                detail={"duration": finished - started},
            )
        )
    return Outcome(JobStatus.SUCCEEDED, envelope, job_id, value, None, started, finished)


def _policy(spec: RegisteredJob, envelope: Envelope) -> policies.RetryPolicy:
    """The job's retry policy with the per-call overrides the envelope carries."""
    options = envelope.options
    if "retries" not in options and "backoff" not in options:
        return spec.policy
    changes: dict[str, Any] = {}
    if type(options.get("retries")) is int:
        changes["retries"] = options["retries"]
    if "backoff" in options:
        try:
            changes["backoff"] = policies.backoff_from_wire(options["backoff"])
        except (TypeError, ValueError):
            events.logger.warning(
                "job %s: ignoring malformed backoff %r", envelope.id, options["backoff"]
            )
    return replace(spec.policy, **changes)


def _call(spec: RegisteredJob, envelope: Envelope, context: policies.JobContext, app: Any) -> Any:
    token = policies.set_current(context)
    try:
        if app is None:  # no application context to enter: no generator to set up per job
            return _invoke(spec, envelope, context)
        with _app_context(app):
            return _invoke(spec, envelope, context)
    finally:
        policies.reset_current(token)


def _invoke(spec: RegisteredJob, envelope: Envelope, context: policies.JobContext) -> Any:
    if spec.takes_context:
        value = spec.func(context, *envelope.args, **envelope.kwargs)
    else:
        value = spec.func(*envelope.args, **envelope.kwargs)
    return _run_coroutine(value) if inspect.iscoroutine(value) else value


def _run_coroutine(coroutine: Any) -> Any:
    """Run an ``async def`` job to completion on an event loop of its own (``asyncio.run``: the
    tasks it leaves behind are cancelled). A thread that already runs a loop (an immediate-mode
    enqueue from async code) cannot nest one, so the job then runs on a helper thread."""
    import asyncio  # only async jobs need it; keeps ``import queuekit`` light

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        running = False
    else:
        running = True
    if not running:  # outside the except block, so a job's traceback does not chain to it
        return asyncio.run(coroutine)
    box: dict[str, Any] = {}
    context = contextvars.copy_context()

    def target() -> None:
        try:
            box["value"] = context.run(asyncio.run, coroutine)
        except BaseException as exc:
            box["error"] = exc

    helper = threading.Thread(target=target, name="queuekit-async-job", daemon=True)
    helper.start()
    helper.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _run(
    queue: BaseQueue,
    spec: RegisteredJob,
    envelope: Envelope,
    context: policies.JobContext,
    timeout: Any,
) -> Any:
    """Call the job, enforcing ``timeout``: in the main thread a SIGALRM stops the job; on any
    other thread the job's thread cannot be stopped, so it is abandoned and the job fails."""
    if not timeout:
        return _call(spec, envelope, context, queue.app)
    seconds = float(timeout)
    import signal  # only jobs with a timeout need it; keeps ``import queuekit`` light

    if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGALRM"):
        return _run_with_alarm(spec, envelope, context, queue.app, seconds)
    return _run_in_thread(spec, envelope, context, queue.app, seconds)


def _time_limit_error(envelope: Envelope, seconds: float, stopped: bool) -> TimeLimitExceeded:
    what = "was stopped" if stopped else "was abandoned; its thread may still be running"
    return TimeLimitExceeded(
        f"job {envelope.job!r} ({envelope.id}) ran longer than its timeout of {seconds:g} s "
        f"and {what}. Raise timeout= or make the job faster."
    )


def _run_with_alarm(
    spec: RegisteredJob, envelope: Envelope, context: policies.JobContext, app: Any, seconds: float
) -> Any:
    import signal

    def expire(signum: int, frame: Any) -> None:
        raise _time_limit_error(envelope, seconds, stopped=True)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return _call(spec, envelope, context, app)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _run_in_thread(
    spec: RegisteredJob, envelope: Envelope, context: policies.JobContext, app: Any, seconds: float
) -> Any:
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = _call(spec, envelope, context, app)
        except BaseException as exc:
            box["error"] = exc

    runner = threading.Thread(target=target, name=f"queuekit-job-{envelope.id[:8]}", daemon=True)
    runner.start()
    runner.join(seconds)
    if runner.is_alive():
        raise _time_limit_error(envelope, seconds, stopped=False)
    if "error" in box:
        raise box["error"]
    return box.get("value")


def dumps_result(value: Any) -> str:
    """A return value as JSON text, for backends that store results as strings."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False)
