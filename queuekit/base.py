"""The backend contract. Validation, ids, envelopes and events live here, once, for every backend.

A backend that only transports envelopes implements ``_send`` (and ``run_worker`` for its
native worker); everything else has a working default or raises a clear error.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
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
from .redact import redact, redact_options
from .results import JobResult, JobStatus

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
)

#: Per-call options ``enqueue`` understands, and the capability each one needs.
_CALL_OPTIONS: dict[str, str | None] = {
    "queue": "named_queues",
    "delay": "delay",
    "eta": "delay",
    "priority": "priority",
    "timeout": "timeout",
    "retries": "retries",
}


class Call(NamedTuple):
    """One invocation for ``enqueue_many``: positional and keyword arguments."""

    args: Sequence[Any] = ()
    kwargs: Mapping[str, Any] = {}


def call(*args: Any, **kwargs: Any) -> Call:
    """Build a :class:`Call` the way you would call the job: ``call(1, to="x")``."""
    return Call(args, kwargs)


@dataclass(frozen=True)
class RegisteredJob:
    """A job function as a queue knows it, with its per-job defaults."""

    name: str
    func: Callable[..., Any]
    args: tuple[Any, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)


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
    delivery: ClassVar[Delivery] = "at-most-once"  # what happens to a job whose worker dies

    #: Options this backend accepts beyond the common ones.
    options_schema: ClassVar[Mapping[str, Option]] = {}
    #: Pass unknown options through to the engine instead of refusing them.
    accepts_extra_options: ClassVar[bool] = False

    common_options: ClassVar[Mapping[str, Option]] = {
        "url": Option(str, None, "where the engine lives; its password is never shown"),
        "default_queue": Option(str, "default", "the queue a job goes to when none is named"),
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
        self.jobs: dict[str, RegisteredJob] = {}
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
        """Make ``func`` runnable under ``name``; extra args and options go to the backend."""
        existing = self.jobs.get(name)
        if existing is not None and existing.func is not func:
            raise DuplicateJob(
                f"A job named {name!r} is already registered ({_qualname(existing.func)}); "
                f"give {_qualname(func)} another name."
            )
        self.jobs[name] = RegisteredJob(name, func, args, dict(options))

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
            job=name, args=list(args), kwargs=dict(kwargs), queue=self.default_queue
        )
        if options:
            self._apply_options(envelope, options)
        return envelope

    def _apply_options(self, envelope: Envelope, options: Mapping[str, Any]) -> None:
        for key, value in options.items():
            if key not in _CALL_OPTIONS:
                if key in self.jobs[envelope.job].options:
                    continue  # a per-job option meant for the backend's register_job
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

    def enqueue(
        self,
        name: str,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> str:
        """Send one call of job ``name``; returns the job id once the backend has it."""
        envelope = self.build_envelope(name, args, kwargs, options)
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
        self._send(envelope)
        self._announce(envelope)
        return self._result_after_send(envelope)

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
        if envelopes:
            self._send_many(envelopes)
        for envelope in envelopes:
            self._announce(envelope)
        return [envelope.id for envelope in envelopes]

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

    def _fetch(self, queues: Sequence[str], timeout: float) -> Received | None:
        """Take the next due message from ``queues``, waiting up to ``timeout`` seconds."""
        raise NotImplementedError

    def _ack(self, received: Received, outcome: runtime.Outcome) -> None:
        """Acknowledge a processed message (its outcome is already recorded)."""

    def close(self) -> None:
        """Release connections and threads; the queue is unusable afterwards."""

    # -- the worker side --------------------------------------------------------------------

    def process(self, message: bytes | str | dict[str, Any] | Envelope) -> runtime.Outcome:
        """Execute one message from the engine and record its outcome (see :mod:`runtime`)."""
        outcome = runtime.execute(self, message)
        self._record(outcome)
        return outcome

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
