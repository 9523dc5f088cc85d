"""The backend contract. Validation, ids, envelopes and events live here, once, for every backend.

A backend that only transports envelopes implements ``_send`` (and ``run_worker`` for its
native worker); everything else has a working default or raises a clear error.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NamedTuple

from . import events, runtime
from .envelope import Envelope
from .exceptions import (
    DuplicateJob,
    InvalidArguments,
    QueueError,
    UnknownJob,
    UnsupportedCapability,
)
from .jsoncheck import check_call
from .options import Option, parse_options, suggest
from .policies import DEFAULT_UNIQUE_TTL, RetryPolicy, backoff_to_wire, unique_key
from .redact import redact, redact_options
from .results import JobResult, JobStatus
from .signing import DEFAULT_MAX_PAYLOAD, Codec, Signer
from .stores import FailedJob, FailedJobs, FailedStore, LockStore

if TYPE_CHECKING:
    from .worker import Received

Delivery = Literal["at-least-once", "at-most-once"]

#: The capability flags every backend declares, in the order tables show them.
CAPABILITIES = (
    "delay",
    "priority",
    "results",
    "retries",
    "timeout",
    "named_queues",
    "bulk",
    "cancel",
    "unique",
    "failed_store",
)

#: Per-call options ``enqueue`` understands, and the capability each one needs.
_CALL_OPTIONS: dict[str, str | None] = {
    "queue": "named_queues",
    "delay": "delay",
    "eta": "delay",
    "priority": "priority",
    "timeout": "timeout",
    "retries": "retries",
    "backoff": "retries",
}

#: Options only ``@job``/``register_job`` take: they hold callables or exception classes, which
#: stay with the worker's registration instead of travelling in the message.
_JOB_OPTIONS = frozenset(
    {"retry_on", "discard_on", "unique", "unique_key", "unique_ttl", "takes_context"}
)


class Call(NamedTuple):
    """One invocation for ``enqueue_many``: positional and keyword arguments."""

    args: Sequence[Any] = ()
    kwargs: Mapping[str, Any] = {}


def call(*args: Any, **kwargs: Any) -> Call:
    """Build a :class:`Call` the way you would call the job: ``call(1, to="x")``."""
    return Call(args, kwargs)


@dataclass(frozen=True)
class RegisteredJob:
    """A job function as a queue knows it, with its per-job defaults and policies."""

    name: str
    func: Callable[..., Any]
    args: tuple[Any, ...] = ()
    #: Per-call option defaults (queue, priority, timeout, retries, ...), copied into envelopes.
    options: dict[str, Any] = field(default_factory=dict)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    #: False, True (key from the arguments) or a function ``(*args, **kwargs) -> str``.
    unique: bool | Callable[..., Any] = False
    unique_ttl: float = DEFAULT_UNIQUE_TTL
    #: Call the function with a :class:`~queuekit.policies.JobContext` first.
    takes_context: bool = False
    #: Options for the engine's own task registration (huey's, celery's ...).
    backend_options: dict[str, Any] = field(default_factory=dict)


class BaseQueue:
    """A queue on one engine, configured by a mapping of options.

    Capabilities are class attributes, checked here at enqueue so that every backend
    refuses an unsupported request the same way.
    """

    #: The alias users configure; shown in every message about this backend.
    backend_name: ClassVar[str] = "base"

    supports_delay: ClassVar[bool] = False  # delay= / eta= hold a job back until its time
    supports_priority: ClassVar[bool] = False  # priority=: higher integers run sooner
    supports_results: ClassVar[bool] = False  # get_result() returns status, value and error
    supports_retries: ClassVar[bool] = False  # retries= re-runs a failing job
    supports_timeout: ClassVar[bool] = False  # timeout= fails a job that runs too long
    supports_named_queues: ClassVar[bool] = False  # queue= routes to a queue other than default
    supports_bulk: ClassVar[bool] = False  # enqueue_many sends a batch in one round trip
    supports_cancel: ClassVar[bool] = False  # cancel() removes a job that has not started
    supports_unique: ClassVar[bool] = False  # @job(unique=True) skips a call already pending
    supports_failed_store: ClassVar[bool] = False  # jobs failed for good are kept: queue.failed
    delivery: ClassVar[Delivery] = "at-most-once"  # what happens to a job whose worker dies
    supports_async_jobs: ClassVar[bool] = True  # `async def` jobs: the runtime runs each on a loop
    #: How ``aenqueue`` reaches the engine: "thread" runs the blocking ``enqueue`` in a worker
    #: thread (``asyncio.to_thread``); a backend with an async client overrides ``aenqueue``
    #: and says "native".
    async_enqueue: ClassVar[str] = "thread"

    #: How each capability is provided where that is worth saying: "native (rq Retry)",
    #: "emulated by the worker runtime", "approximate: ...". Shown in tables and docs.
    capability_notes: ClassVar[Mapping[str, str]] = {}

    #: Options this backend accepts beyond the common ones.
    options_schema: ClassVar[Mapping[str, Option]] = {}
    #: Pass unknown options through to the engine instead of refusing them.
    accepts_extra_options: ClassVar[bool] = False

    common_options: ClassVar[Mapping[str, Option]] = {
        "url": Option(str, None, "where the engine lives; its password is never shown"),
        "default_queue": Option(str, "default", "the queue a job goes to when none is named"),
        "queues": Option(str, None, "comma-separated queue names; others are refused at enqueue"),
        "secret_key": Option(
            str, None, "sign envelopes with HMAC-SHA256; comma-separated keys rotate (first signs)"
        ),
        "max_payload_bytes": Option(
            int, DEFAULT_MAX_PAYLOAD, "largest encoded envelope accepted, in bytes; 0: no limit"
        ),
    }

    def __init__(self, options: Mapping[str, Any] | None = None, /, **kwargs: Any) -> None:
        raw = {**(options or {}), **kwargs}
        self.options: dict[str, Any] = parse_options(
            self.backend_name,
            {**self.common_options, **self.options_schema},
            raw,
            allow_extra=self.accepts_extra_options,
        )
        self.url: str | None = self.options["url"]
        self.default_queue: str = self.options["default_queue"]
        names = self.options["queues"]
        #: The queue names enqueue accepts (None: any).
        self.queue_names: frozenset[str] | None = (
            frozenset({self.default_queue, *(n.strip() for n in names.split(",") if n.strip())})
            if names
            else None
        )
        secret = self.options["secret_key"]
        #: Signing and size limit, applied wherever an envelope is encoded or decoded.
        self.codec = Codec(
            Signer.from_option(secret) if secret else None, self.options["max_payload_bytes"]
        )
        self.jobs: dict[str, RegisteredJob] = {}
        #: Where jobs that failed for good are kept; backends with a store set it.
        self.failed_store: FailedStore | None = None
        #: Uniqueness locks; backends that support unique jobs set it.
        self.locks: LockStore | None = None
        #: The application jobs run for (a Flask app runs each job in its app context).
        self.app: Any = None

    # -- capabilities -----------------------------------------------------------------------

    def capabilities(self) -> dict[str, bool | str]:
        """This queue's capabilities (options such as memory's immediate mode may narrow them)."""
        return capability_row(self)

    def _require(self, capability: str, asked: str) -> None:
        if not getattr(self, f"supports_{capability}"):
            raise UnsupportedCapability(
                f"Backend {self.backend_name!r} does not support {capability.replace('_', ' ')} "
                f"(asked for by {asked}); drop that option or configure a backend that supports "
                f"it (see `queuekit backends`)."
            )

    # -- jobs -------------------------------------------------------------------------------

    def register_job(self, name: str, func: Callable[..., Any], *args: Any, **options: Any) -> None:
        """Make ``func`` runnable under ``name``.

        Portable options (queue, priority, timeout, retries, backoff, delay) become per-call
        defaults; retry_on, discard_on, unique, unique_key, unique_ttl and takes_context set
        the job's policies; extra args and any other option go to the backend.
        """
        existing = self.jobs.get(name)
        if existing is not None and existing.func is not func:
            raise DuplicateJob(
                f"A job named {name!r} is already registered ({_qualname(existing.func)}); "
                f"give {_qualname(func)} another name."
            )
        defaults = {k: v for k, v in options.items() if k in _CALL_OPTIONS and k != "eta"}
        policy = RetryPolicy.from_options(options)
        if "backoff" in defaults and callable(defaults["backoff"]):
            del defaults["backoff"]  # a function stays in the policy; the envelope cannot carry it
        unique: bool | Callable[..., Any] = options.get("unique_key") or bool(options.get("unique"))
        ttl = options.get("unique_ttl", DEFAULT_UNIQUE_TTL)
        if unique:
            self._require("unique", f"@job(name={name!r}, unique=...)")
            _positive_seconds("unique_ttl", ttl)
        backend_options = {
            k: v for k, v in options.items() if k not in _CALL_OPTIONS and k not in _JOB_OPTIONS
        }
        self.jobs[name] = RegisteredJob(
            name,
            func,
            args,
            defaults,
            policy,
            unique,
            float(ttl),
            bool(options.get("takes_context", False)),
            backend_options,
        )

    def _lookup(self, name: str) -> RegisteredJob:
        try:
            return self.jobs[name]
        except KeyError:
            raise UnknownJob(
                f"No job named {name!r} is registered with this {self.backend_name!r} queue."
                f"{suggest(name, self.jobs)} Decorate the function with @job and import its "
                f"module before register_app() runs."
            ) from None

    # -- enqueue ----------------------------------------------------------------------------

    def build_envelope(
        self,
        name: str,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> Envelope:
        """Validate one call and wrap it in an envelope, without sending it."""
        spec = self._lookup(name)
        if kwargs is None:
            kwargs = {}
        check_call(args, kwargs)
        if spec.options:
            options = {**spec.options, **options} if options else spec.options
        envelope = Envelope(
            job=name,
            args=list(args),
            kwargs=dict(kwargs),
            queue=self.default_queue,
            codec=self.codec,
        )
        if options:
            self._apply_options(envelope, options)
        if spec.unique:
            envelope.options["unique_key"] = unique_key(name, args, kwargs, spec.unique)
        return envelope

    def _apply_options(self, envelope: Envelope, options: Mapping[str, Any]) -> None:
        for key, value in options.items():
            if key not in _CALL_OPTIONS:
                raise InvalidArguments(
                    f"Unknown enqueue option {key!r} for job {envelope.job!r}."
                    f"{suggest(key, _CALL_OPTIONS)} Known options: {', '.join(_CALL_OPTIONS)}."
                )
            if value is None:
                continue
            if key == "queue":
                if type(value) is not str or not value:
                    raise InvalidArguments(f"queue= must be a non-empty str, got {value!r}.")
                if value != self.default_queue:
                    self._require("named_queues", f"queue={value!r}")
                    if self.queue_names is not None and value not in self.queue_names:
                        raise InvalidArguments(
                            f"Unknown queue {value!r} for job {envelope.job!r}."
                            f"{suggest(value, self.queue_names)} This queue accepts "
                            f"{', '.join(sorted(self.queue_names))}; fix the name or add it to "
                            f"the queues option."
                        )
                envelope.queue = value
                continue
            capability = _CALL_OPTIONS[key]
            if capability is not None:
                self._require(capability, f"{key}={value!r}")
            if key in ("delay", "eta"):
                envelope.options["eta"] = _run_at(key, value, envelope.enqueued_at)
            elif key == "priority":
                if type(value) is not int:
                    raise InvalidArguments(f"priority= must be an int, got {value!r}.")
                envelope.options["priority"] = value
            elif key == "timeout":
                envelope.options["timeout"] = _positive_seconds("timeout", value)
            elif key == "retries":
                if type(value) is not int or value < 0:
                    raise InvalidArguments(f"retries= must be an int >= 0, got {value!r}.")
                envelope.options["retries"] = value
            elif key == "backoff":
                envelope.options["backoff"] = backoff_to_wire(value)

    def enqueue(
        self,
        name: str,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> str:
        """Send one call of job ``name``; returns the job id once the backend has it.

        For a unique job whose key is held by a pending job, nothing is sent and the pending
        job's id is returned.
        """
        envelope = self.build_envelope(name, args, kwargs, options)
        if "unique_key" in envelope.options:
            return self._dispatch([envelope])[0]
        self._send(envelope)
        self._announce(envelope)
        return envelope.id

    def submit(
        self,
        name: str,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> JobResult:
        """Like :meth:`enqueue`, but return a :class:`JobResult` bound to this queue."""
        envelope = self.build_envelope(name, args, kwargs, options)
        job_id = self._dispatch([envelope])[0]
        if job_id == envelope.id:
            return self._result_after_send(envelope)
        if self.supports_results:
            return self.get_result(job_id)
        return replace(self._sent_result(envelope), id=job_id)

    def enqueue_many(
        self,
        name: str,
        calls: Iterable[Call | Sequence[Any]],
        **options: Any,
    ) -> list[str]:
        """Send many calls of one job; every call is validated before any is sent.

        Each item is a :class:`Call` (see :func:`call`) or a list/tuple of positional args.
        """
        envelopes = []
        for index, item in enumerate(calls):
            if isinstance(item, Call):
                args, kwargs = item.args, item.kwargs
            elif isinstance(item, (list, tuple)):
                args, kwargs = item, None
            else:
                raise InvalidArguments(
                    f"calls[{index}] is {type(item).__name__}; each call is a list of positional "
                    f"args or queuekit.call(*args, **kwargs)."
                )
            try:
                envelopes.append(self.build_envelope(name, args, kwargs, options))
            except InvalidArguments as exc:
                raise InvalidArguments(f"calls[{index}]: {exc}") from None
        return self._dispatch(envelopes)

    async def aenqueue(
        self,
        name: str,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> str:
        """:meth:`enqueue` for async code: the event loop never waits on the engine (see
        ``async_enqueue``); validation errors are raised here all the same."""
        import asyncio  # only async callers need it; keeps ``import queuekit`` light

        return await asyncio.to_thread(self.enqueue, name, args, kwargs, **options)

    async def asubmit(
        self,
        name: str,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> JobResult:
        """:meth:`submit` for async code, the way :meth:`aenqueue` runs :meth:`enqueue`."""
        import asyncio

        return await asyncio.to_thread(self.submit, name, args, kwargs, **options)

    def _dispatch(self, envelopes: list[Envelope]) -> list[str]:
        """Send ``envelopes`` in one go; a unique call whose key is held yields the holder's id."""
        ids = [envelope.id for envelope in envelopes]
        send = envelopes
        claimed: list[Envelope] = []
        if self.locks is not None and any("unique_key" in e.options for e in envelopes):
            send = []
            for index, envelope in enumerate(envelopes):
                key = envelope.options.get("unique_key")
                holder = None
                if key is not None:
                    ttl = self.jobs[envelope.job].unique_ttl
                    holder = self.locks.claim(key, envelope.id, ttl)
                if holder is None:
                    send.append(envelope)
                    if key is not None:
                        claimed.append(envelope)
                else:
                    ids[index] = holder
        try:
            if len(send) == 1:
                self._send(send[0])
            elif send:
                self._send_many(send)
        except BaseException:
            for envelope in claimed:
                assert self.locks is not None
                self.locks.release(envelope.options["unique_key"], envelope.id)
            raise
        for envelope in send:
            self._announce(envelope)
        return ids

    def _announce(self, envelope: Envelope) -> None:
        if events.active():
            events.emit(
                events.Event(
                    "enqueued", envelope.id, envelope.job, envelope.queue, self.backend_name
                )
            )

    def _sent_result(self, envelope: Envelope) -> JobResult:
        status = JobStatus.SCHEDULED if "eta" in envelope.options else JobStatus.QUEUED
        return JobResult(
            id=envelope.id,
            job_name=envelope.job,
            status=status,
            queue=envelope.queue,
            enqueued_at=datetime.fromtimestamp(envelope.enqueued_at, timezone.utc),
            backend=self,
        )

    def _result_after_send(self, envelope: Envelope) -> JobResult:
        """The JobResult ``submit`` returns; a backend that runs jobs at once returns the real one."""
        return self._sent_result(envelope)

    # -- what a backend implements ------------------------------------------------------------

    def _send(self, envelope: Envelope) -> None:
        """Hand one envelope to the engine; return only once the engine has it."""
        raise NotImplementedError(f"{type(self).__qualname__} must implement _send()")

    def _send_many(self, envelopes: list[Envelope]) -> None:
        """Hand a batch to the engine; backends with ``supports_bulk`` do it in one round trip."""
        for envelope in envelopes:
            self._send(envelope)

    def get_result(self, job_id: str) -> JobResult:
        """The current state of job ``job_id``."""
        self._require("results", "get_result()")
        return self._get_result(job_id)

    def _get_result(self, job_id: str) -> JobResult:
        raise NotImplementedError(f"{type(self).__qualname__} must implement _get_result()")

    def wait_for_change(self, result: JobResult, timeout: float) -> JobResult:
        """Wait up to ``timeout`` seconds for ``result`` to move on; backends may block smarter."""
        time.sleep(max(timeout, 0.0))
        return self.get_result(result.id)

    def cancel(self, job_id: str) -> bool:
        """Cancel a job that has not started; True if it was still waiting and now never runs."""
        self._require("cancel", "cancel()")
        return self._cancel(job_id)

    def _cancel(self, job_id: str) -> bool:
        raise NotImplementedError(f"{type(self).__qualname__} must implement _cancel()")

    def count(self, queue: str | None = None) -> int:
        """Jobs waiting in ``queue`` (the default queue when None)."""
        raise UnsupportedCapability(
            f"Backend {self.backend_name!r} cannot count waiting jobs; check the engine's own tools."
        )

    def __len__(self) -> int:
        return self.count()

    def purge(self, queue: str | None = None) -> int:
        """Delete the jobs waiting in ``queue`` (every queue when None); returns how many."""
        raise UnsupportedCapability(
            f"Backend {self.backend_name!r} cannot purge its queues from queuekit; use the "
            f"engine's own tools."
        )

    def prune(self, older_than: float | None = None) -> int:
        """Delete finished jobs' results older than ``older_than`` seconds; returns how many."""
        raise UnsupportedCapability(
            f"Backend {self.backend_name!r} expires results by itself; there is nothing to prune."
        )

    def run_worker(
        self,
        *,
        queues: Sequence[str] | None = None,
        concurrency: int | None = None,
        burst: bool = False,
    ) -> None:
        """Run a worker in this process until SIGINT/SIGTERM (with ``burst``, until no job is
        due). Backends with a native worker override this; the default drives ``_fetch``."""
        if type(self)._fetch is BaseQueue._fetch:
            raise UnsupportedCapability(
                f"Backend {self.backend_name!r} has no worker that queuekit can start."
            )
        from .worker import PollingWorker  # only workers need it

        PollingWorker(self, queues or [self.default_queue], concurrency or 1, burst).run()

    def _fetch(
        self, queues: Sequence[str], timeout: float, stop: threading.Event | None = None
    ) -> Received | None:
        """Take the next due message from ``queues``, waiting up to ``timeout`` seconds; take
        nothing once ``stop`` is set (the worker is shutting down)."""
        raise NotImplementedError

    def _ack(self, received: Received, outcome: runtime.Outcome) -> None:
        """Acknowledge a processed message (its outcome is already recorded)."""

    def close(self) -> None:
        """Release connections and threads; the queue is unusable afterwards."""

    # -- the worker side --------------------------------------------------------------------

    def process(self, message: bytes | str | dict[str, Any] | Envelope) -> runtime.Outcome:
        """Execute one message from the engine and act on its outcome: record it, schedule the
        retry, keep a final failure in the failed store, release the uniqueness lock.

        Native worker integrations call this once per message, before acknowledging it.
        """
        outcome = runtime.execute(self, message)
        envelope = outcome.envelope
        self._record(outcome)
        if outcome.retry_in is not None and envelope is not None:
            self._retry(envelope, outcome.retry_in)
            return outcome
        if outcome.status is JobStatus.FAILED and self.failed_store is not None:
            try:
                self.failed_store.add(FailedJob.from_outcome(outcome))
            except Exception:
                events.logger.exception("could not keep failed job %s", outcome.job_id)
        if envelope is not None and self.locks is not None and "unique_key" in envelope.options:
            self.locks.release(envelope.options["unique_key"], envelope.id)
        return outcome

    def _retry(self, envelope: Envelope, delay: float) -> None:
        """Send the next attempt of a failed job, ``delay`` seconds from now (emulated retries;
        a backend with native retries overrides this)."""
        options = {k: v for k, v in envelope.options.items() if k != "eta"}
        if delay > 0:
            options["eta"] = time.time() + delay
        self._send(replace(envelope, attempt=envelope.attempt + 1, options=options))

    @property
    def failed(self) -> FailedJobs:
        """The jobs that failed for good: ``list()``, ``get(id)``, ``retry(id)``, ``purge()``."""
        if self.failed_store is None:
            self._require("failed_store", "queue.failed")
        assert self.failed_store is not None
        return FailedJobs(self, self.failed_store)

    def _record(self, outcome: runtime.Outcome) -> None:
        """Store an outcome where the backend can; the default keeps nothing (logs only)."""

    # -- niceties -----------------------------------------------------------------------------

    def __enter__(self) -> BaseQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        shown = redact_options({k: v for k, v in self.options.items() if v is not None})
        body = ", ".join(f"{key}={value!r}" for key, value in shown.items())
        return redact(f"<{type(self).__name__} {self.backend_name!r} {body}>")


def capability_row(backend: BaseQueue | type[BaseQueue]) -> dict[str, bool | str]:
    """A backend class's or queue's capabilities as a table row: flag -> bool, plus delivery."""
    row: dict[str, bool | str] = {
        name: bool(getattr(backend, f"supports_{name}")) for name in CAPABILITIES
    }
    row["delivery"] = backend.delivery
    return row


def _qualname(func: Callable[..., Any]) -> str:
    module = getattr(func, "__module__", "?")
    return f"{module}.{getattr(func, '__qualname__', repr(func))}"


def _positive_seconds(key: str, value: Any) -> float:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if type(value) not in (int, float) or not math.isfinite(value) or value < 0:
        raise InvalidArguments(
            f"{key}= must be a number of seconds >= 0 or a timedelta, got {value!r}."
        )
    return float(value)


def _run_at(key: str, value: Any, now: float) -> float:
    """The epoch time a job may start, from ``delay=`` (seconds/timedelta) or ``eta=``."""
    if key == "delay":
        return now + _positive_seconds("delay", value)
    if not isinstance(value, datetime):
        raise InvalidArguments(f"eta= must be a timezone-aware datetime, got {value!r}.")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidArguments(
            f"eta={value.isoformat()} is a naive datetime; its time zone is unknown. Pass an "
            f"aware one, e.g. datetime.now(timezone.utc) + timedelta(minutes=5)."
        )
    return value.timestamp()


__all__ = [
    "CAPABILITIES",
    "BaseQueue",
    "Call",
    "Delivery",
    "QueueError",
    "RegisteredJob",
    "call",
    "capability_row",
]
