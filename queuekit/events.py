"""Lifecycle events (enqueued, started, succeeded, failed, rejected) for subscribers and logging."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import logging

# The "queuekit" logger, made on first use: ``logging`` (with traceback, string, ...) is a tenth
# of ``import queuekit``, and most processes import it later anyway. ``events.logger`` works.
_logger: logging.Logger | None = None
_DEBUG, _INFO = 10, 20  # logging.DEBUG and logging.INFO


def _log() -> logging.Logger:
    global _logger
    if _logger is None:
        import logging

        _logger = logging.getLogger("queuekit")
    return _logger


def __getattr__(name: str) -> Any:
    if name == "logger":
        return _log()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


EventKind = Literal["enqueued", "started", "succeeded", "failed", "rejected", "canceled"]


@dataclass(frozen=True)
class Event:
    """Something that happened to one job. ``job_id`` is None for a message too broken to name one."""

    kind: EventKind
    job_id: str | None
    job_name: str | None
    queue: str | None
    backend: str
    attempt: int = 1
    error: str | None = None
    detail: dict[str, Any] | None = None


Subscriber = Callable[[Event], None]

_subscribers: tuple[Subscriber, ...] = ()
_lock = threading.Lock()


def subscribe(callback: Subscriber) -> Callable[[], None]:
    """Call ``callback(event)`` for every lifecycle event; returns a function that unsubscribes."""
    global _subscribers
    with _lock:
        _subscribers = (*_subscribers, callback)

    def unsubscribe() -> None:
        global _subscribers
        with _lock:
            _subscribers = tuple(s for s in _subscribers if s is not callback)

    return unsubscribe


_LEVELS = {
    "enqueued": _DEBUG,
    "started": _DEBUG,
    "succeeded": _INFO,
    "canceled": _INFO,
    # The runtime already logs these at ERROR with the traceback; the event line adds nothing.
    "failed": _DEBUG,
    "rejected": _DEBUG,
}


def active() -> bool:
    """True when someone listens for ``enqueued`` events; the producer's hot path checks this."""
    return bool(_subscribers) or (_logger or _log()).isEnabledFor(_DEBUG)


def enabled(kind: EventKind) -> bool:
    """True when an event of ``kind`` would be logged or has a subscriber: a worker's hot path
    builds the event only then."""
    return bool(_subscribers) or (_logger or _log()).isEnabledFor(_LEVELS[kind])


def emit(event: Event) -> None:
    """Log ``event`` and hand it to every subscriber; a failing subscriber is logged, not raised."""
    level = _LEVELS[event.kind]
    logger = _logger or _log()
    if logger.isEnabledFor(level):
        logger.log(
            level,
            "job %s %s (%s, queue %s, backend %s, attempt %d)%s",
            event.job_id,
            event.kind,
            event.job_name,
            event.queue,
            event.backend,
            event.attempt,
            f": {event.error}" if event.error else "",
        )
    for callback in _subscribers:
        try:
            callback(event)
        except Exception:
            logger.exception("queuekit event subscriber %r failed on %s", callback, event.kind)
