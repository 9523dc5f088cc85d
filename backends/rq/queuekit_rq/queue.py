"""The rq backend: queuekit envelopes travel as rq jobs, stored with rq's JSON serializer.

Each envelope becomes an rq job named :func:`queuekit_rq.run` with the envelope as its only
argument, under the envelope's id, on the rq queue of the envelope's name. Everything else is
rq's own: delays go to rq's ScheduledJobRegistry and the worker's scheduler, retries are rq's
``Retry`` with queuekit's backoff computed into its intervals, timeouts are rq's job_timeout,
results and states are rq's, and ``rq info`` or rq-dashboard show the jobs like any other.
"""

# rq leaves parts of its API unannotated (Result.get_key, save_meta, registries).
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, ClassVar, cast

import redis
from rq.callbacks import Callback
from rq.defaults import RQ_KEY_PREFIX
from rq.exceptions import NoSuchJobError
from rq.job import JOB_ID_PATTERN, Job, Retry
from rq.job import JobStatus as RqStatus
from rq.queue import EnqueueData, Queue
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from rq.results import Result
from rq.utils import get_call_string
from rq.worker import BaseWorker, SpawnWorker
from rq.worker_pool import WorkerPool

from queuekit import (
    BaseQueue,
    ConfigurationError,
    ErrorInfo,
    JobResult,
    JobStatus,
    QueueError,
    ResultUnavailable,
    events,
)
from queuekit.envelope import Envelope
from queuekit.exceptions import InvalidMessage
from queuekit.options import Option
from queuekit.policies import Backoff, BackoffSpec, RetryPolicy, backoff_from_wire
from queuekit.redact import redact
from queuekit.redis_stores import ReachingRedis, RedisFailedStore, RedisLocks, send_commands
from queuekit.runtime import Outcome

from .worker import (
    ENTRY_POINT,
    FAILURE_CALLBACK,
    JSON,
    META_KEY,
    TIMEOUT_KEY,
    JobFailed,
    RqJobQueue,
    arrange_retry,
    envelope_of,
    retries_done,
    rq_error,
    set_worker_queue,
    stop_retries,
    worker_class_for,
)

logger = logging.getLogger("queuekit.rq")

DEFAULT_URL = "redis://127.0.0.1:6379/0"

_STATUS = {
    RqStatus.CREATED: JobStatus.QUEUED,
    RqStatus.QUEUED: JobStatus.QUEUED,
    RqStatus.DEFERRED: JobStatus.QUEUED,  # waits for a dependency; queuekit never makes one
    RqStatus.READY_TO_ENQUEUE: JobStatus.QUEUED,
    RqStatus.RATE_LIMITED: JobStatus.QUEUED,
    RqStatus.SCHEDULED: JobStatus.SCHEDULED,
    RqStatus.STARTED: JobStatus.RUNNING,
    RqStatus.FINISHED: JobStatus.SUCCEEDED,
    RqStatus.FAILED: JobStatus.FAILED,
    RqStatus.STOPPED: JobStatus.FAILED,  # its work horse was killed on request
    RqStatus.CANCELED: JobStatus.CANCELED,
}

_ON_FAILURE = Callback(FAILURE_CALLBACK)


class RedisUnavailable(QueueError, ConnectionError):
    """Redis did not answer (refused, unreachable, or slower than the configured timeouts)."""


def _dt(value: Any) -> datetime | None:
    if isinstance(value, (int, float)) and value > 0:
        return datetime.fromtimestamp(value, timezone.utc)
    return None


def _planned_delay(backoff: BackoffSpec, attempt: int) -> float:
    """The wait after failed attempt ``attempt``, as far as it can be known before the run."""
    if isinstance(backoff, Backoff):
        return backoff.delay(attempt)
    if callable(backoff):
        return 0.0  # depends on the exception; the worker's runtime sets it when the run fails
    return float(backoff)


def resolve_worker_class(path: str) -> type[BaseWorker]:
    """``rq.Worker``, ``rq.SimpleWorker`` or a dotted path to an rq worker class."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    try:
        found = getattr(importlib.import_module(module_name), attr) if module_name else None
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(
            f"Option 'worker_class' of backend 'rq' names {path!r}, which cannot be imported "
            f"({exc}); use rq.Worker (forks a work horse per job) or rq.SimpleWorker."
        ) from None
    if not (isinstance(found, type) and issubclass(found, BaseWorker)):
        raise ConfigurationError(
            f"Option 'worker_class' of backend 'rq' must name an rq worker class, got {path!r}; "
            f"use rq.Worker or rq.SimpleWorker."
        )
    if issubclass(found, SpawnWorker):
        raise ConfigurationError(
            f"worker_class={path!r}: rq's SpawnWorker starts each job in a fresh interpreter, "
            f"which cannot see the jobs and queue queuekit configured; use rq.Worker or "
            f"rq.SimpleWorker."
        )
    return found


class RqQueue(BaseQueue):
    """Jobs on rq (Redis Queue): rq's queues, registries, scheduler, retries and workers."""

    backend_name: ClassVar[str] = "rq"

    supports_delay: ClassVar[bool] = True  # rq's ScheduledJobRegistry and scheduler
    supports_priority: ClassVar[bool] = True  # approximate: priority > 0 goes to the queue's front
    supports_results: ClassVar[bool] = True  # rq's job hash and result stream
    supports_retries: ClassVar[bool] = True  # rq's Retry, intervals from queuekit's backoff
    supports_timeout: ClassVar[bool] = True  # rq's job_timeout (death penalty), whole seconds
    supports_named_queues: ClassVar[bool] = True  # one rq queue per name
    supports_bulk: ClassVar[bool] = True  # rq's enqueue_many in one MULTI/EXEC pipeline
    supports_cancel: ClassVar[bool] = True  # taken off rq's list or schedule, then job.cancel()
    supports_unique: ClassVar[bool] = True  # RedisLocks next to rq's keys
    supports_failed_store: ClassVar[bool] = True  # RedisFailedStore, plus rq's FailedJobRegistry
    delivery: ClassVar[str] = "at-most-once"  # type: ignore[assignment]  # a job whose worker dies fails; never re-run

    capability_notes: ClassVar[dict[str, str]] = {
        "delay": "native: rq's ScheduledJobRegistry (exact times) and the scheduler the worker "
        "runs (with_scheduler); a job starts within scheduler_interval of its time, never before",
        "priority": "approximate: priority > 0 is enqueued at the front of its rq queue "
        "(LPUSH), so it runs before waiting jobs; jobs at the front run newest first, and the "
        "priority value itself is not compared",
        "results": "native: status, return value and error from rq's job and result stream",
        "retries": "native: rq's Retry with queuekit's backoff computed into its intervals; "
        "retry_on, discard_on, callable backoff and Retry(delay) are decided by the runtime, "
        "which sets rq's retries_left and next interval before rq reschedules (emulated)",
        "timeout": "native: rq's job_timeout and death penalty (SIGALRM in the work horse), "
        "rounded up to whole seconds; the job fails with TimeLimitExceeded",
        "named_queues": "native: one rq queue per name",
        "bulk": "native: rq's Queue.enqueue_many with prepare_data; rq's commands go to Redis "
        "in one MULTI/EXEC round trip",
        "cancel": "native: removed from rq's queue or schedule atomically, then rq's cancel()",
        "unique": "RedisLocks (SET NX) next to rq's keys, released when the job finishes",
        "failed_store": "RedisFailedStore (<rq prefix>:queuekit:<default queue>); rq's "
        "FailedJobRegistry keeps the jobs too",
        "delivery": "at-most-once: a job whose work horse or worker is killed is failed by rq "
        "(WorkHorseKilled, or AbandonedJobError once its heartbeat lapses) and never re-run, "
        "even with retries left",
    }

    options_schema: ClassVar[dict[str, Option]] = {
        "result_ttl": Option(
            int, 500, "seconds rq keeps a finished job and its return value (-1: forever)"
        ),
        "failure_ttl": Option(
            int, 31_536_000, "seconds rq keeps a failed job and its error (-1: forever)"
        ),
        "default_timeout": Option(
            int, 180, "rq job_timeout in whole seconds for jobs enqueued without timeout="
        ),
        "worker_class": Option(
            str,
            "rq.Worker",
            "rq.Worker forks a work horse per job; rq.SimpleWorker runs jobs in the worker",
        ),
        "scheduler_interval": Option(
            float, 1.0, "seconds between the scheduler's passes: a delayed job starts this late"
        ),
        "connect_timeout": Option(float, 5.0, "seconds to connect to Redis before giving up"),
        "socket_timeout": Option(float, 5.0, "seconds a Redis command may take (not the worker)"),
    }

    def __init__(self, options: dict[str, Any] | None = None, /, **kwargs: Any) -> None:
        super().__init__(options, **kwargs)
        self.url = self.url or DEFAULT_URL
        for key in ("connect_timeout", "socket_timeout", "scheduler_interval"):
            if not self.options[key] > 0:
                raise ConfigurationError(
                    f"Option {key!r} of backend 'rq' must be a number of seconds > 0, got "
                    f"{self.options[key]!r}."
                )
        if self.options["default_timeout"] == 0 or self.options["default_timeout"] < -1:
            raise ConfigurationError(
                f"Option 'default_timeout' of backend 'rq' must be whole seconds >= 1 (or -1 for "
                f"none), got {self.options['default_timeout']!r}."
            )
        self.worker_base = resolve_worker_class(self.options["worker_class"])
        self._limits = (
            f" (limits: connect_timeout={self.options['connect_timeout']:g} s, "
            f"socket_timeout={self.options['socket_timeout']:g} s)"
        )
        try:
            self.client: redis.Redis = redis.Redis.from_url(
                self.url,
                socket_connect_timeout=self.options["connect_timeout"],
                socket_timeout=self.options["socket_timeout"],
            )
        except ValueError as exc:
            raise ConfigurationError(
                f"The rq backend takes redis://, rediss:// or unix:// URLs, got "
                f"{redact(self.url)!r} ({redact(str(exc))})."
            ) from None
        # Next to rq's own keys, under rq's key prefix (RQ_KEY_PREFIX), one set per default queue.
        prefix = f"{RQ_KEY_PREFIX}:queuekit:{self.default_queue}"
        self.failed_store = RedisFailedStore(self.client, prefix=prefix)
        self.locks = RedisLocks(self.client, prefix=prefix)
        self._queues: dict[str, RqJobQueue] = {}

    # -- plumbing ---------------------------------------------------------------------------

    def _reaching(self, action: str) -> ReachingRedis:
        """Redis errors as RedisUnavailable, naming the action, the URL and the time limits."""
        return ReachingRedis(RedisUnavailable, action, self.url or "", self._limits)

    def rq_queue(self, name: str | None = None) -> RqJobQueue:
        """The rq Queue named ``name`` (the default queue when None), on this queue's client."""
        name = name or self.default_queue
        queue = self._queues.get(name)
        if queue is None:
            queue = RqJobQueue(
                name,
                connection=self.client,
                default_timeout=self.options["default_timeout"],
                serializer=JSON,
            )
            self._queues[name] = queue
        return queue

    # -- producer ---------------------------------------------------------------------------

    def _rq_retry(self, envelope: Envelope) -> Retry | None:
        """rq's Retry for the attempts this envelope has left, one planned interval each."""
        spec = self.jobs.get(envelope.job)
        policy = spec.policy if spec is not None else RetryPolicy()
        options = envelope.options
        retries = options["retries"] if type(options.get("retries")) is int else policy.retries
        backoff = policy.backoff
        if "backoff" in options:
            with contextlib.suppress(TypeError, ValueError):
                backoff = backoff_from_wire(options["backoff"])
        left = retries - (envelope.attempt - 1)
        if left <= 0:
            return None
        first = envelope.attempt
        intervals = [round(_planned_delay(backoff, n), 3) for n in range(first, first + left)]
        at_front = int(options.get("priority", 0)) > 0
        # rq takes float seconds (the scheduler here keeps exact times); its hint says int.
        return Retry(max=left, interval=cast("list[int]", intervals), enqueue_at_front=at_front)

    def _job_kwargs(self, envelope: Envelope) -> dict[str, Any]:
        timeout = envelope.options.get("timeout")
        return {
            "func": ENTRY_POINT,
            "args": [envelope.to_dict()],
            "kwargs": {},
            "timeout": max(1, math.ceil(timeout)) if timeout else None,
            "result_ttl": self.options["result_ttl"],
            "failure_ttl": self.options["failure_ttl"],
            "description": get_call_string(
                envelope.job, envelope.args, envelope.kwargs, max_length=75
            ),
            "job_id": envelope.id,
            "retry": self._rq_retry(envelope),
            "on_failure": _ON_FAILURE,
        }

    def _send(self, envelope: Envelope) -> None:
        self._send_many([envelope])

    def _send_many(self, envelopes: list[Envelope]) -> None:
        now = time.time()
        batches: dict[str, list[tuple[Envelope, EnqueueData]]] = {}
        sized: list[tuple[Envelope, Job]] = []  # envelope -> its rq job, for the size limit
        with self._reaching("enqueue"), self.client.pipeline() as pipe:
            for envelope in envelopes:
                if TIMEOUT_KEY in envelope.options:  # a failed job's envelope, sent again
                    options = dict(envelope.options)
                    options.setdefault("timeout", options.pop(TIMEOUT_KEY))
                    envelope = replace(envelope, options=options)
                queue = self.rq_queue(envelope.queue)
                if envelope.attempt > 1:
                    # Sent again after failing for good: start from a clean rq job.
                    pipe.delete(Job.key_for(envelope.id), Result.get_key(envelope.id))
                    pipe.zrem(FailedJobRegistry(queue=queue).key, envelope.id)
                kwargs = self._job_kwargs(envelope)
                at_front = int(envelope.options.get("priority", 0)) > 0
                eta = envelope.options.get("eta")
                if eta is not None and eta > now:
                    job = queue.create_job(status=RqStatus.SCHEDULED, **kwargs)
                    job.enqueue_at_front = at_front
                    queue.schedule_job(job, datetime.fromtimestamp(eta, timezone.utc), pipe)
                    sized.append((envelope, job))
                else:
                    data = Queue.prepare_data(at_front=at_front, **kwargs)
                    batches.setdefault(envelope.queue, []).append((envelope, data))
            for name, pairs in batches.items():
                jobs = self.rq_queue(name).enqueue_many([d for _, d in pairs], pipeline=pipe)
                by_id = {e.id: e for e, _ in pairs}  # each job is under its envelope's id
                sized += [(by_id[job.id], job) for job in jobs]
            self._check_sizes(sized)  # nothing is sent yet: the commands wait in ``pipe``
            if pipe.watching or pipe.scripts:
                pipe.execute()  # rq used what only redis-py's pipeline does
            else:
                # rq's commands, as rq's own code stacked them, in one MULTI/EXEC round trip;
                # a redis-py pipeline costs about a third of an rq enqueue to pack and parse.
                commands = [args for args, _ in pipe.command_stack]
                send_commands(self.client.connection_pool, commands, transaction=True)

    def _check_sizes(self, sized: list[tuple[Envelope, Job]]) -> None:
        """Refuse the batch if an envelope is over max_payload_bytes. rq's JSON of the call
        (``json.dumps`` with spaces, around the envelope) is never shorter than the envelope's
        compact JSON, so a call within the limit needs no encoding of its own (that was 4% of
        an enqueue); only one over it is encoded, exactly, and refused if it is over too."""
        for envelope, job in sized:
            codec = envelope.codec
            if codec is not None and codec.max_bytes and len(job.data) > codec.max_bytes:
                envelope.encode()  # raises InvalidArguments naming the job and its size

    # -- results, cancel, count -------------------------------------------------------------

    def _get_result(self, job_id: str) -> JobResult:
        if not JOB_ID_PATTERN.fullmatch(job_id):
            raise ResultUnavailable(f"No job {job_id!r} on rq: that is not an rq job id.")
        with self._reaching("read a job's result"), self.client.pipeline(False) as pipe:
            pipe.hgetall(Job.key_for(job_id))
            pipe.xrevrange(Result.get_key(job_id), "+", "-", count=1)
            data, latest = pipe.execute()
        if not data:
            raise ResultUnavailable(
                f"No job {job_id!r} on rq: it was never enqueued here, or rq dropped it "
                f"(result_ttl={self.options['result_ttl']} s, "
                f"failure_ttl={self.options['failure_ttl']} s)."
            )
        job = Job(job_id, connection=self.client, serializer=JSON)
        job.restore(data)
        result = None
        if latest:
            result_id, payload = latest[0]
            result = Result.restore(
                job_id,
                result_id.decode(),
                payload,
                connection=self.client,
                serializer=JSON,
            )
        return self._to_result(job, result)

    def _to_result(self, job: Job, result: Result | None) -> JobResult:
        envelope = envelope_of(job)
        rq_status = job.get_status(refresh=False)
        status = _STATUS.get(rq_status, JobStatus.UNKNOWN)
        meta = job.meta.get(META_KEY) if isinstance(job.meta, dict) else None
        mine: dict[str, Any] = meta if isinstance(meta, dict) else {}
        # The attempt running now or that ran last: the envelope's, plus rq's retries so far.
        current = (envelope.attempt if envelope else 1) + retries_done(job)
        if envelope is None:
            attempts = int(mine.get("attempt") or 0)
        elif status in (JobStatus.RUNNING, JobStatus.SUCCEEDED, JobStatus.FAILED):
            attempts = current
        else:
            attempts = current - 1
        # queuekit's outcome of the last failed attempt (meta), when it is that attempt's.
        recorded = envelope is None or mine.get("attempt") == current
        error = ErrorInfo.from_dict(mine["error"]) if isinstance(mine.get("error"), dict) else None
        return_value = None
        started_at = job.started_at
        finished_at: datetime | None = None
        if status is JobStatus.SUCCEEDED:
            error = None
            if result is not None and result.type == Result.Type.SUCCESSFUL:
                return_value = result.return_value
            finished_at = job.ended_at or (result.created_at if result else None)
        elif status is JobStatus.FAILED:
            if recorded and error is not None:
                started_at = _dt(mine.get("started_at")) or started_at
                finished_at = _dt(mine.get("finished_at"))
            else:  # rq failed it itself: killed, stopped, abandoned
                error = rq_error((result.exc_string or "") if result else "")
                finished_at = result.created_at if result else job.ended_at
        elif status is not JobStatus.RUNNING:
            started_at = None
            if status is JobStatus.CANCELED:
                error = None
        if envelope is not None:
            name, queue, enqueued_at = envelope.job, envelope.queue, _dt(envelope.enqueued_at)
        else:
            name, queue, enqueued_at = "", job.origin, job.enqueued_at
        return JobResult(
            id=job.id,
            job_name=name,
            status=status,
            queue=queue,
            return_value=return_value,
            error=error,
            enqueued_at=enqueued_at,
            started_at=started_at,
            finished_at=finished_at or (_dt(time.time()) if status.finished else None),
            attempts=max(attempts, 0),
            backend=self,
        )

    def _cancel(self, job_id: str) -> bool:
        if not JOB_ID_PATTERN.fullmatch(job_id):
            return False
        with self._reaching("cancel a job"):
            try:
                job = Job.fetch(job_id, connection=self.client, serializer=JSON)
            except NoSuchJobError:
                return False
            queue = self.rq_queue(job.origin)
            status = job.get_status(refresh=False)
            # Take the job off rq's list (or schedule) first: whoever removes it wins, so a
            # worker never starts a job this call reports as canceled.
            if status == RqStatus.QUEUED:
                taken = self.client.lrem(queue.key, 1, job_id)
            elif status == RqStatus.SCHEDULED:
                taken = self.client.zrem(ScheduledJobRegistry(queue=queue).key, job_id)
            else:
                return False
            if not taken:
                return False
            job.cancel()
        envelope = envelope_of(job)
        if envelope is not None:
            key = envelope.options.get("unique_key")
            if self.locks is not None and isinstance(key, str):
                self.locks.release(key, envelope.id)
            if events.active():
                events.emit(events.Event("canceled", job_id, envelope.job, envelope.queue, "rq"))
        return True

    def count(self, queue: str | None = None) -> int:
        """Jobs waiting in rq queue ``queue``: on its list (what `rq info` shows) or scheduled."""
        rq_queue = self.rq_queue(queue)
        with self._reaching("count jobs"), self.client.pipeline(False) as pipe:
            pipe.llen(rq_queue.key)
            pipe.zcard(ScheduledJobRegistry(queue=rq_queue).key)
            listed, scheduled = pipe.execute()
        return int(listed) + int(scheduled)

    # -- the worker side --------------------------------------------------------------------

    def run_rq_job(self, job: Job, message: Any) -> Any:
        """Execute one rq job's envelope through queuekit's runtime; called by ``run``."""
        runtime_message: Envelope | str | bytes
        limit = self.codec.max_bytes
        try:  # with secret_key set, this also checks the signature
            if isinstance(message, dict) and (not limit or len(job.data) <= limit):
                # rq's JSON of the call holds the envelope, so the envelope is within the limit
                # too: no need to encode it again to measure it.
                envelope: Envelope | None = Envelope.from_dict(message, self.codec)
            elif isinstance(message, (dict, str)):
                envelope = Envelope.decode(message, self.codec)
            else:
                envelope = None
        except InvalidMessage:
            envelope = None  # the runtime refuses it, with the reason, below
        if envelope is not None:
            options = dict(envelope.options)
            if "timeout" in options:
                options[TIMEOUT_KEY] = options.pop("timeout")
            attempt = envelope.attempt + retries_done(job)
            runtime_message = replace(envelope, attempt=attempt, options=options)
        elif isinstance(message, (str, bytes)):
            runtime_message = message
        else:
            runtime_message = json.dumps(message, default=repr)
        outcome = self.process(runtime_message)
        job.queuekit_handled = True  # type: ignore[attr-defined]
        if outcome.succeeded:
            return outcome.return_value
        if outcome.retry_in is None:
            stop_retries(job)  # failed for good (exhausted, discarded or refused)
            with contextlib.suppress(Exception):
                job.save_meta()
        assert outcome.error is not None
        raise JobFailed(outcome.error)

    def _record(self, outcome: Outcome) -> None:
        # A success is rq's to record (return value in its result stream); a failure's
        # error and attempt go in the job's meta, which rq saves when it reschedules and
        # run_rq_job saves when the job failed for good.
        from rq.job import get_current_job

        job = get_current_job()
        if job is None or outcome.succeeded or outcome.job_id not in (None, job.id):
            return
        envelope = outcome.envelope
        if getattr(job, "_unreadable_meta", None) is not None:
            job.meta = {}
        job.meta[META_KEY] = {
            "status": outcome.status.value,
            "attempt": envelope.attempt if envelope else 0,
            "error": outcome.error.to_dict() if outcome.error else None,
            "started_at": outcome.started_at,
            "finished_at": outcome.finished_at,
        }

    def _retry(self, envelope: Envelope, delay: float) -> None:
        from rq.job import get_current_job

        job = get_current_job()
        if job is None or job.id != envelope.id:
            super()._retry(envelope, delay)  # not inside rq: send the next attempt ourselves
            return
        arrange_retry(job, delay)

    def run_worker(
        self,
        *,
        queues: Sequence[str] | None = None,
        concurrency: int | None = None,
        burst: bool = False,
    ) -> None:
        """Run rq's worker (``worker_class``) with its scheduler on ``queues`` until SIGTERM or
        SIGINT (a warm shutdown: the job in hand finishes); ``concurrency`` > 1 runs rq's
        WorkerPool of that many workers. With ``burst``, stop once the queues are empty."""
        names = list(queues or [self.default_queue])
        worker_class = worker_class_for(self.worker_base)
        set_worker_queue(self)
        level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
        with self._reaching("start an rq worker"):
            # The worker's own connection: rq raises its socket timeout above the blocking
            # dequeue's (redis-py's default 5 s would cut BLMOVE short).
            connection = redis.Redis.from_url(
                self.url or DEFAULT_URL,
                socket_connect_timeout=self.options["connect_timeout"],
                socket_timeout=None,
            )
            if concurrency is not None and concurrency > 1:
                pool = WorkerPool(
                    names,
                    connection=connection,
                    num_workers=concurrency,
                    worker_class=worker_class,
                    serializer=JSON,
                    job_class=RqJobQueue.job_class,
                    queue_class=RqJobQueue,
                )
                pool.start(burst=burst, logging_level=level)
            else:
                worker = worker_class(names, connection=connection)
                worker.work(burst=burst, with_scheduler=True, logging_level=level)

    def close(self) -> None:
        self.client.close()
