"""Job policies that hold on every backend: retries with backoff, timeouts, uniqueness.

A policy is declared per job (``@job(retries=5, backoff=exponential(cap=60))``) and may be
overridden per call (``.using(retries=2)``). Per-call values travel in the envelope, so they
must be JSON; callables and exception types stay with the job's registration.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .exceptions import InvalidArguments, QueueError

BackoffFunc = Callable[[int, BaseException], float]


class Retry(QueueError):
    """Raise inside a job to ask for another attempt, after ``delay`` seconds if given.

    It counts against the job's ``retries`` like any failure that is retried.
    """

    def __init__(self, delay: float | None = None, reason: str = "the job asked to be retried"):
        super().__init__(reason)
        self.delay = delay


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff: ``base * factor ** (attempt - 1)`` seconds, at most ``cap``.

    ``jitter`` takes a random fraction off each delay (0.1: between 90 % and 100 %), so that
    jobs failing together do not all come back together.
    """

    base: float = 1.0
    factor: float = 2.0
    cap: float = 300.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        for name in ("base", "factor", "cap"):
            value = getattr(self, name)
            if type(value) not in (int, float) or value < 0:
                raise InvalidArguments(f"Backoff {name}= must be a number >= 0, got {value!r}.")
        if type(self.jitter) not in (int, float) or not 0 <= self.jitter <= 1:
            raise InvalidArguments(f"Backoff jitter= must be between 0 and 1, got {self.jitter!r}.")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1 for the first run)."""
        seconds = min(self.base * self.factor ** (attempt - 1), self.cap)
        if self.jitter:
            import random  # imports hashlib: kept off `import queuekit`

            seconds *= 1 - random.random() * self.jitter
        return seconds

    def to_dict(self) -> dict[str, float]:
        return {"base": self.base, "factor": self.factor, "cap": self.cap, "jitter": self.jitter}


def exponential(
    base: float = 1.0, factor: float = 2.0, cap: float = 300.0, jitter: float = 0.1
) -> Backoff:
    """Exponential backoff with a cap and jitter (see :class:`Backoff`)."""
    return Backoff(base, factor, cap, jitter)


#: What ``backoff=`` accepts: fixed seconds, a :class:`Backoff`, or ``f(attempt, exc) -> seconds``.
BackoffSpec = float | int | Backoff | BackoffFunc

DEFAULT_BACKOFF = Backoff()


def backoff_to_wire(value: Any) -> float | dict[str, float]:
    """The JSON form of a per-call ``backoff=``; a callable cannot travel and is refused."""
    if isinstance(value, Backoff):
        return value.to_dict()
    if type(value) in (int, float) and value >= 0:
        return float(value)
    if callable(value):
        raise InvalidArguments(
            f"backoff={value!r} is a function, which cannot travel in a message; set it per job "
            f"with @job(backoff=...), and per call pass seconds or queuekit.exponential(...)."
        )
    raise InvalidArguments(
        f"backoff= takes seconds >= 0, queuekit.exponential(...) or a function, got {value!r}."
    )


def backoff_from_wire(value: Any) -> BackoffSpec:
    if isinstance(value, dict):
        return Backoff(
            **{k: float(v) for k, v in value.items() if k in Backoff.__dataclass_fields__}
        )
    return float(value)


def _exception_types(name: str, value: Any) -> tuple[type[BaseException], ...]:
    items = value if isinstance(value, (tuple, list)) else (value,)
    for item in items:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise InvalidArguments(f"{name}= takes exception classes, got {item!r}.")
    return tuple(items)


@dataclass(frozen=True)
class RetryPolicy:
    """How many times a failing job is run again, after how long, and for which errors."""

    retries: int = 0
    backoff: BackoffSpec = DEFAULT_BACKOFF
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    discard_on: tuple[type[BaseException], ...] = ()

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> RetryPolicy:
        retries = options.get("retries", 0)
        if type(retries) is not int or retries < 0:
            raise InvalidArguments(f"retries= must be an int >= 0, got {retries!r}.")
        backoff = options.get("backoff", DEFAULT_BACKOFF)
        if not callable(backoff):
            backoff_to_wire(backoff)  # validates
        return cls(
            retries=retries,
            backoff=backoff,
            retry_on=_exception_types("retry_on", options.get("retry_on", (Exception,))),
            discard_on=_exception_types("discard_on", options.get("discard_on", ())),
        )

    def delay(self, attempt: int, exc: BaseException) -> float:
        if isinstance(exc, Retry) and exc.delay is not None:
            return max(float(exc.delay), 0.0)
        backoff = self.backoff
        if isinstance(backoff, Backoff):
            return backoff.delay(attempt)
        if callable(backoff):
            return max(float(backoff(attempt, exc)), 0.0)
        return float(backoff)

    def decide(self, attempt: int, exc: BaseException) -> tuple[str, float | None]:
        """('discard' | 'retry' | 'fail', seconds before the retry) for a failed attempt."""
        if self.discard_on and isinstance(exc, self.discard_on):
            return "discard", None
        retryable = isinstance(exc, (Retry, self.retry_on))
        if retryable and attempt <= self.retries:
            return "retry", self.delay(attempt, exc)
        return "fail", None


@dataclass(frozen=True)
class JobContext:
    """What a running job may know about itself: pass ``takes_context=True`` to receive it first."""

    job_id: str
    job_name: str
    attempt: int
    retries: int
    queue: str
    enqueued_at: datetime
    backend: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt > self.retries


_current: contextvars.ContextVar[JobContext | None] = contextvars.ContextVar(
    "queuekit_current_job", default=None
)


def current_job() -> JobContext | None:
    """The context of the job running in this thread, or None outside a job."""
    return _current.get()


def set_current(context: JobContext | None) -> contextvars.Token[JobContext | None]:
    return _current.set(context)


def reset_current(token: contextvars.Token[JobContext | None]) -> None:
    _current.reset(token)


def context_for(envelope: Any, retries: int, backend: str) -> JobContext:
    return JobContext(
        job_id=envelope.id,
        job_name=envelope.job,
        attempt=envelope.attempt,
        retries=retries,
        queue=envelope.queue,
        enqueued_at=datetime.fromtimestamp(envelope.enqueued_at, timezone.utc),
        backend=backend,
    )


# -- uniqueness -------------------------------------------------------------------------------

#: Seconds a uniqueness lock lives when the job never finishes (its worker died, say).
DEFAULT_UNIQUE_TTL = 3600.0


def unique_key(
    job_name: str,
    args: Any,
    kwargs: Any,
    key: bool | str | Callable[..., Any],
) -> str:
    """The uniqueness key of one call: the job name plus a hash of its arguments, or the
    result of the job's ``unique_key(*args, **kwargs)``."""
    if callable(key):
        made = key(*args, **kwargs)
        if not isinstance(made, str):
            raise InvalidArguments(
                f"unique_key for job {job_name!r} returned {made!r}; it must return a str."
            )
        return f"{job_name}:{made}"
    import hashlib

    digest = hashlib.sha1(
        json.dumps([list(args), kwargs], sort_keys=True, separators=(",", ":")).encode(),
        usedforsecurity=False,
    ).hexdigest()
    return f"{job_name}:{digest}"
