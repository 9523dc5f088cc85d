"""The rq side of queuekit: what makes rq's own worker run queuekit envelopes and nothing else.

Every queuekit job is an rq job that names :func:`run` with one argument, its envelope. A worker
started by ``queuekit worker --backend rq`` uses :class:`QueuekitJob`, which never imports the
function a job names: an rq job naming anything but :func:`run` (``os.system``, say), or whose
data is not rq JSON, is refused and set aside, and the worker goes on.
"""

# rq leaves parts of its API unannotated (Result.get_key, save_meta, registries).
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, NoReturn, cast

from redis import Redis
from rq.exceptions import AbandonedJobError, DeserializationError, StopRequested
from rq.job import Job, get_current_job
from rq.queue import Queue
from rq.registry import ScheduledJobRegistry
from rq.scheduler import RQScheduler
from rq.serializers import JSONSerializer, Serializer
from rq.timeouts import BaseDeathPenalty, JobTimeoutException, UnixSignalDeathPenalty
from rq.types import FailureCallbackType, SuccessCallbackType
from rq.utils import as_text
from rq.worker import BaseWorker

from queuekit import events
from queuekit.envelope import Envelope
from queuekit.exceptions import InvalidMessage, QueueError, TimeLimitExceeded
from queuekit.jobs import get_job_queue, has_job_queue
from queuekit.results import ErrorInfo
from queuekit.stores import FailedJob, FailureReason

if TYPE_CHECKING:
    from rq.executions import Execution

    from .queue import RqQueue

logger = logging.getLogger("queuekit.rq")

#: The only function a queuekit rq job may name.
ENTRY_POINT = "queuekit_rq.run"
#: rq's failure callback on every queuekit job (see :func:`on_failure`).
FAILURE_CALLBACK = "queuekit_rq.on_failure"
#: Key of queuekit's outcome (attempt, error) in an rq job's meta.
META_KEY = "queuekit"
#: Where the worker moves ``timeout`` in the envelope the runtime sees: rq's death penalty
#: enforces it (job_timeout), so the runtime must not time the job a second time.
TIMEOUT_KEY = "rq_job_timeout"


class _JSONSerializer(JSONSerializer, Serializer):
    """rq's JSONSerializer (the same bytes), declared an rq Serializer by inheritance: rq checks
    the serializer of every Job and Queue it builds (seven per job in a worker) against its
    runtime-checkable protocol, which costs 7.5 us for rq's class and 3.3 us for this."""


#: The serializer of every rq job, queue and worker queuekit makes: rq's JSON.
JSON = _JSONSerializer()
# rq names a worker's serializer by module and qualified name, to import it again elsewhere.
setattr(JSON, "__module__", __name__)  # noqa: B010  (an instance attribute, not the class's)
setattr(JSON, "__qualname__", "JSON")  # noqa: B010


class JobFailed(QueueError):
    """Raised to rq for a run queuekit's runtime recorded as failed, so rq's failure path runs
    (retry as arranged, or FailedJobRegistry); its message carries the job's own traceback."""

    def __init__(self, error: ErrorInfo) -> None:
        detail = f"\n\nThe job's traceback:\n{error.traceback}" if error.traceback else ""
        super().__init__(f"{error.type}: {error.message}{detail}")
        self.error = error


class JobRefused(QueueError):
    """Raised to rq for an rq job that a queuekit worker will not run."""


# -- the queue this process works for -----------------------------------------------------------

_worker_queue: RqQueue | None = None


def set_worker_queue(queue: RqQueue | None) -> None:
    """Make ``queue`` the one :func:`run` hands envelopes to in this process (and its forks)."""
    global _worker_queue
    _worker_queue = queue


def configured_queue() -> RqQueue | None:
    """The rq queue this process works for: the worker's, else the app's registered queue."""
    if _worker_queue is not None:
        return _worker_queue
    from .queue import RqQueue

    if has_job_queue():
        queue = get_job_queue()
        if isinstance(queue, RqQueue):
            return queue
    return None


# -- reading queuekit's data out of rq jobs ----------------------------------------------------


def envelope_of(job: Job) -> Envelope | None:
    """The envelope an rq job carries, or None when it is not a queuekit job.

    It reads the job's data as JSON itself, so it works whatever serializer the process
    that fetched the job uses (``rq info`` fetches with pickle).
    """
    try:
        call = json.loads(job.data)
    except (ValueError, TypeError):
        return None
    if not (isinstance(call, list) and len(call) == 4):
        return None
    func, instance, args, kwargs = call
    if func != ENTRY_POINT or instance is not None or kwargs:
        return None
    if not (isinstance(args, list) and len(args) == 1 and isinstance(args[0], dict)):
        return None
    try:
        return Envelope.from_dict(args[0])
    except InvalidMessage:
        return None


def retries_done(job: Job) -> int:
    """How many of its rq retries a job has used: queuekit gives rq one interval per retry."""
    intervals = job.retry_intervals or []
    return max(len(intervals) - (job.retries_left or 0), 0)


def stop_retries(job: Job) -> None:
    """Keep rq from retrying ``job``: drop the retries it has not used (the count of used ones,
    which gives the attempt number, stays)."""
    done = retries_done(job)
    if job.retry_intervals is not None:
        job.retry_intervals = job.retry_intervals[:done]
    job.retries_left = 0


def arrange_retry(job: Job, delay: float) -> None:
    """Make rq's own retry of ``job`` (done when the run fails) come ``delay`` seconds from now.

    rq reschedules with ``retry_intervals[len - retries_left]``; the runtime's delay replaces
    that slot, so Retry(delay=...) and callable backoffs take effect. A job without rq retries
    left (the worker's policy allows more than the producer planned) gets one more slot.
    """
    intervals = [float(i) for i in (job.retry_intervals or [])]
    left = job.retries_left or 0
    seconds = round(max(delay, 0.0), 3)
    if 0 < left <= len(intervals):
        intervals[len(intervals) - left] = seconds
    else:
        intervals.append(seconds)
        left = 1
    job.retry_intervals = cast("list[int]", intervals)  # rq takes float seconds; its hint says int
    job.retries_left = left


_RQ_FAILURES = (
    ("work-horse terminated unexpectedly", "WorkHorseKilled"),
    ("job stopped by user", "JobStopped"),
    ("abandonedjoberror", "AbandonedJobError"),
    ("stuck in intermediate queue", "JobStuck"),
)


def rq_error(text: str) -> ErrorInfo:
    """Type and message of a failure rq recorded as text (its exc_string)."""
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    last = lines[-1] if lines else "the job failed in rq"
    lowered = (text or "").lower()
    for needle, kind in _RQ_FAILURES:
        if needle in lowered:
            return ErrorInfo(kind, last, text)
    name, sep, message = last.partition(": ")
    if sep and name.replace(".", "").replace("_", "").isalnum():
        return ErrorInfo(name, message, text)
    return ErrorInfo("JobFailed", last, text)


def _save_meta(job: Job, data: dict[str, Any]) -> None:
    if getattr(job, "_unreadable_meta", None) is not None:
        job.meta = {}  # a hand-written job's meta that JSON cannot read; queuekit's replaces it
    job.meta[META_KEY] = data
    try:
        job.save_meta()
    except Exception:
        logger.exception("could not save queuekit's outcome on rq job %s", job.id)


def record_outside_failure(job: Job, text: str, reason: FailureReason) -> None:
    """Keep a job that rq failed without queuekit's runtime (its work horse died, it was
    stopped or abandoned) in the failed store, and release its uniqueness lock."""
    envelope = envelope_of(job)
    error = rq_error(text)
    logger.error(
        "job %s (%s) failed outside queuekit's runtime: %s: %s; it will not be run again "
        "(delivery is at-most-once; queue.failed.retry(id) runs it again)",
        job.id,
        envelope.job if envelope else "not a queuekit job",
        error.type,
        error.message,
    )
    queue = configured_queue()
    if queue is None or envelope is None:
        return
    attempt = envelope.attempt + retries_done(job)
    envelope.attempt = attempt
    if queue.failed_store is not None:
        record = FailedJob(
            id=job.id,
            job_name=envelope.job,
            queue=envelope.queue,
            reason=reason,
            error=error,
            failed_at=time.time(),
            attempts=attempt,
            envelope=envelope.to_dict(),
        )
        try:
            queue.failed_store.add(record)
        except Exception:
            logger.exception("could not keep failed job %s", job.id)
    key = envelope.options.get("unique_key")
    if queue.locks is not None and isinstance(key, str):
        try:
            queue.locks.release(key, envelope.id)
        except Exception:
            logger.exception("could not release the uniqueness lock of job %s", job.id)


def _raw_text(job: QueuekitJob) -> str:
    if job.undecodable is not None:
        return job.data.decode("utf-8", errors="replace")[:65536]
    call = {"rq_function": job.func_name, "args": list(job.args), "kwargs": job.kwargs}
    return json.dumps(call, default=repr)[:65536]


def refuse(job: QueuekitJob, reason: str) -> NoReturn:
    """Set aside an rq job queuekit will not run: log it, keep it in the failed store
    (reason 'rejected'), and fail it in rq without retries."""
    stop_retries(job)
    job.queuekit_handled = True
    kind = "UnknownJob" if reason.startswith("it names the function") else "InvalidMessage"
    message = (
        f"rq job {job.id} on queue {job.origin!r} was refused: {reason}. A queuekit worker runs "
        f"only jobs enqueued through queuekit (they call {ENTRY_POINT} with an envelope)"
    )
    logger.error(
        "queuekit worker refused rq job %s on queue %s: %s; it was set aside",
        job.id,
        job.origin,
        reason,
    )
    name = job.func_name or None
    events.emit(events.Event("rejected", job.id, name, job.origin, "rq", error=message))
    error = ErrorInfo(kind, message)
    queue = configured_queue()
    if queue is not None and queue.failed_store is not None:
        record = FailedJob(
            id=job.id,
            job_name=name,
            queue=job.origin,
            reason="rejected",
            error=error,
            failed_at=time.time(),
            attempts=0,
            envelope=None,
            raw=_raw_text(job),
        )
        try:
            queue.failed_store.add(record)
        except Exception:
            logger.exception("could not keep refused rq job %s", job.id)
    _save_meta(job, {"status": "failed", "attempt": 0, "error": error.to_dict()})
    raise JobRefused(message)


# -- the function every queuekit rq job names ------------------------------------------------


def run(message: Any) -> Any:
    """Run one queuekit job; rq's worker calls this with the job's envelope.

    It hands the envelope to queuekit's runtime through the queue this worker process is
    configured with (``queue.process``), so only jobs registered there can run.
    """
    job = get_current_job()
    queue = configured_queue()
    if job is None or queue is None:
        raise QueueError(
            f"{ENTRY_POINT} runs inside an rq worker that queuekit configured; start workers "
            f"with `queuekit worker --backend rq --app <your jobs>` (no queuekit rq queue is "
            f"configured in this process{'' if job else ', and no rq job is running'})."
        )
    return queue.run_rq_job(job, message)


def on_failure(
    job: Job,
    connection: Redis,
    exc_type: type[BaseException] | None = None,
    exc_value: BaseException | None = None,
    traceback: TracebackType | None = None,
) -> None:
    """rq's failure callback on every queuekit job.

    rq calls it when a job raises, and also when it finds a job whose worker died mid-run
    (StartedJobRegistry cleanup, AbandonedJobError), in whatever process runs that cleanup
    (a worker, or ``rq info``). rq would then re-run the job while it has retries left;
    queuekit fails it for good instead, so no job runs twice.
    """
    if isinstance(exc_type, type) and issubclass(exc_type, AbandonedJobError):
        stop_retries(job)
        record_outside_failure(
            job,
            "AbandonedJobError: the worker running this job died (its heartbeat lapsed)",
            "exhausted",
        )


# -- rq classes with queuekit's rules ------------------------------------------------------


class QueuekitJob(Job):
    """rq's Job that runs only :func:`run`: it never imports a function a job names, runs no
    callbacks but queuekit's own, and sends no webhooks."""

    #: Set once queuekit's runtime (or a refusal) has dealt with this run: the failure is
    #: recorded, and a retry rq is about to do was asked for by the job's policy.
    queuekit_handled: bool = False
    #: Why the job's data could not be read as a call, when it could not.
    undecodable: str | None = None

    def _deserialize_data(self) -> None:
        try:
            super()._deserialize_data()
        except DeserializationError as exc:
            cause = exc.__cause__
            self.undecodable = f"{type(cause).__name__}: {cause}" if cause else "unreadable"
            self._func_name, self._instance, self._args, self._kwargs = "", None, (), {}

    def refusal(self) -> str | None:
        """Why this job may not run in a queuekit worker, or None when it is a queuekit job."""
        name = self.func_name
        if self.undecodable is not None:
            return f"its data is not a call that rq's JSON serializer can read ({self.undecodable})"
        if name != ENTRY_POINT or self.instance is not None:
            return f"it names the function {name!r}"
        if len(self.args) != 1 or self.kwargs:
            return f"{ENTRY_POINT} takes exactly one argument, the envelope"
        message = self.args[0]
        if not isinstance(message, dict) or message.get("id") != self.id:
            return (
                "its argument is not an envelope carrying the rq job's id (queuekit enqueues "
                "each envelope under its own id)"
            )
        return None

    @property
    def func(self) -> Callable[..., Any] | None:
        return run if self.refusal() is None else None

    def _execute(self) -> Any:
        reason = self.refusal()
        if reason is not None:
            refuse(self, reason)
        return run(self.args[0])

    @property
    def success_callback(self) -> SuccessCallbackType | None:
        return None

    @property
    def failure_callback(self) -> FailureCallbackType | None:
        return on_failure if self._failure_callback_name == FAILURE_CALLBACK else None

    @property
    def stopped_callback(self) -> Callable[[Job, Redis], Any] | None:
        return None

    def send_webhooks(self, status: Any, *, exc_string: str | None = None) -> None:
        if self.webhooks:
            logger.warning(
                "rq job %s carries %d webhook(s); queuekit workers send none",
                self.id,
                len(self.webhooks),
            )


def timeout_message(seconds: int) -> str:
    job = get_current_job()
    envelope = envelope_of(job) if job is not None else None
    name = f"job {envelope.job!r} ({envelope.id})" if envelope else "the job"
    asked = envelope.options.get("timeout") if envelope else None
    if isinstance(asked, (int, float)) and not isinstance(asked, bool) and asked > 0:
        return (
            f"{name} ran longer than its timeout of {asked:g} s and was stopped by rq's death "
            f"penalty (rq job_timeout={seconds} s; rq counts whole seconds). Raise timeout= or "
            f"make the job faster."
        )
    return (
        f"{name} ran longer than rq's job_timeout of {seconds} s (the backend's "
        f"default_timeout) and was stopped by rq's death penalty. Pass timeout= or raise "
        f"default_timeout."
    )


class QueuekitDeathPenalty(UnixSignalDeathPenalty):
    """rq's SIGALRM death penalty; a job over its rq job_timeout gets queuekit's
    TimeLimitExceeded, which the runtime fails (or retries) like any timeout."""

    def handle_death_penalty(self, signum: int, frame: FrameType | None) -> None:
        if self._exception is JobTimeoutException:
            raise TimeLimitExceeded(timeout_message(self._timeout))
        super().handle_death_penalty(signum, frame)


class RqJobQueue(Queue):
    """rq's Queue with queuekit's job class, JSON, and scheduled times kept exactly."""

    job_class = QueuekitJob

    def __init__(
        self,
        name: str = "default",
        connection: Redis | None = None,
        default_timeout: int | None = None,
        is_async: bool = True,
        job_class: str | type[Job] | None = None,
        serializer: Any = None,
        death_penalty_class: type[BaseDeathPenalty] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            name,
            connection,
            default_timeout,
            is_async,
            job_class,
            serializer or JSON,
            death_penalty_class or QueuekitDeathPenalty,
            **kwargs,
        )

    def schedule_job(
        self, job: Job, datetime: Any, pipeline: Any = None, unique: bool = False
    ) -> Job:
        scheduled = super().schedule_job(job, datetime, pipeline=pipeline, unique=unique)
        # rq's registry truncates the time to whole seconds, which can start a job up to a
        # second early; overwrite the score with the exact time.
        connection = pipeline if pipeline is not None else self.connection
        connection.zadd(ScheduledJobRegistry(queue=self).key, {job.id: datetime.timestamp()})
        return scheduled


class _ExactScheduledJobRegistry(ScheduledJobRegistry):
    def get_jobs_to_schedule(
        self, timestamp: int | None = None, chunk_size: int = 1000
    ) -> list[str]:
        # rq compares with whole seconds; queuekit's scores are exact, so compare with now.
        due = self.connection.zrangebyscore(self.key, 0, time.time(), start=0, num=chunk_size)
        return [as_text(job_id) for job_id in cast("list[bytes]", due)]


class QueuekitScheduler(RQScheduler):
    """rq's scheduler, comparing scheduled times to the millisecond and looking every
    ``poll_interval`` seconds (rq's interval, which also sets its lock TTLs, stays whole)."""

    def __init__(
        self, queues: Any, connection: Redis, poll_interval: float = 1.0, **kwargs: Any
    ) -> None:
        super().__init__(queues, connection, interval=max(1, math.ceil(poll_interval)), **kwargs)
        self.poll_interval = poll_interval

    def work(self) -> None:
        # rq's loop, with the exact poll interval; the heartbeat (lock TTL interval + 60 s)
        # need not run more than once a second.
        self._install_signal_handlers()
        self.register_birth()
        last_heartbeat = 0.0
        while True:
            if self._stop_requested:
                self.stop()
                break
            if self.should_reacquire_locks:
                self.acquire_locks()
            if time.monotonic() - last_heartbeat >= 1.0:
                self.heartbeat()
                last_heartbeat = time.monotonic()
            self.enqueue_scheduled_jobs()
            time.sleep(self.poll_interval)

    def prepare_registries(self, queue_names: Any = None) -> None:
        names = queue_names or self._acquired_locks
        self._scheduled_job_registries = [
            _ExactScheduledJobRegistry(name, connection=self.connection, serializer=self.serializer)
            for name in names
        ]


class QueuekitWorker(BaseWorker):
    """Mixed into the configured rq worker class (rq.Worker, rq.SimpleWorker, ...)."""

    job_class = QueuekitJob
    queue_class = RqJobQueue
    death_penalty_class = QueuekitDeathPenalty

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("serializer", JSON)
        kwargs.setdefault("job_class", QueuekitJob)
        kwargs.setdefault("queue_class", RqJobQueue)
        queue = configured_queue()
        if queue is not None:
            kwargs.setdefault("default_result_ttl", queue.options["result_ttl"])
        super().__init__(*args, **kwargs)

    def work(self, *args: Any, **kwargs: Any) -> bool:
        try:
            return bool(super().work(*args, **kwargs))
        except StopRequested:
            # rq's warm stop raises this from its signal handler; a signal that lands on the
            # loop's ``while True``, outside the try that catches it, escapes rq's loop (which
            # has torn down already) and would fail the worker with exit code 1.
            return False

    def subscribe(self) -> None:
        # As rq's own, with a pubsub thread that looks up from its read once a second: rq's 60 s
        # wait made every warm shutdown hang for up to a minute on redis-py 8.2, whose
        # PubSubWorkerThread.stop() joins the thread, which after the unsubscribe waits out that
        # time for a subscription that never comes.
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        # rq's attribute is typed by its first value, None.
        self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]
            sleep_time=1.0, daemon=True, exception_handler=self._pubsub_exception_handler
        )

    def handle_job_failure(
        self,
        job: Job,
        queue: Queue,
        started_job_registry: Any = None,
        exc_string: str = "",
        execution: Execution | None = None,
    ) -> None:
        if not getattr(job, "queuekit_handled", False):
            # rq failed this run itself: its work horse died, it was stopped, or it got
            # stuck. rq would run it again while it has retries left; queuekit does not.
            stop_retries(job)
            stopped = self._stopped_job_id == job.id
            record_outside_failure(job, exc_string, "discarded" if stopped else "exhausted")
        super().handle_job_failure(
            job,
            queue,
            started_job_registry=started_job_registry,
            exc_string=exc_string,
            execution=execution,
        )

    def _start_scheduler(
        self,
        burst: bool = False,
        logging_level: str | None = "INFO",
        date_format: str = "%H:%M:%S",
        log_format: str = "%(asctime)s %(message)s",
    ) -> None:
        # As rq's own, with queuekit's scheduler and the configured interval.
        queue = configured_queue()
        interval = queue.options["scheduler_interval"] if queue is not None else 1.0
        self.scheduler = QueuekitScheduler(
            self.queues,
            connection=self.connection,
            poll_interval=interval,
            logging_level=logging_level if logging_level is not None else self.log.level,
            date_format=date_format,
            log_format=log_format,
            serializer=self.serializer,
        )
        self.scheduler.acquire_locks()
        if self.scheduler.acquired_locks:
            if burst:
                try:
                    self.scheduler.register_birth()
                    self.scheduler.enqueue_scheduled_jobs()
                finally:
                    self.scheduler.release_locks()
                    self.scheduler.register_death()
            else:
                self.scheduler.start()


_worker_classes: dict[type[BaseWorker], type[BaseWorker]] = {}


def worker_class_for(base: type[BaseWorker]) -> type[BaseWorker]:
    """``base`` (rq.Worker, rq.SimpleWorker or a subclass) with queuekit's rules mixed in."""
    if issubclass(base, QueuekitWorker):
        return base
    made = _worker_classes.get(base)
    if made is None:
        name = f"Queuekit{base.__name__}"
        made = cast(
            "type[BaseWorker]",
            type(name, (QueuekitWorker, base), {"__module__": __name__, "__qualname__": name}),
        )
        _worker_classes[base] = made
    return made
