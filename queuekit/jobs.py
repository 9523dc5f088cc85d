"""Declaring jobs before any configuration exists, and binding them to a queue once it does.

This keeps privacyIDEA's ``JobCollector`` semantics: ``@job`` collects at import time,
``register_app`` builds the configured queue and registers every collected job with it.
Where privacyIDEA was silent (a bad class path, no queue), queuekit raises.
"""

from __future__ import annotations

import sys
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from .exceptions import DuplicateJob, NoQueueConfigured

if TYPE_CHECKING:
    # Collecting jobs needs none of these; sending and configuring do, and import them then.
    from .base import BaseQueue, Call
    from .results import JobResult

#: The prefix ``register_app`` reads keys with (``queuekit.config.DEFAULT_PREFIX`` is this).
DEFAULT_PREFIX = "QUEUEKIT_"

P = ParamSpec("P")
R = TypeVar("R")

_NOT_REGISTERED: Any = object()


class Job(Generic[P, R]):
    """A collected job: call it to run inline, ``.enqueue()`` it to run on a worker."""

    def __init__(
        self,
        func: Callable[P, R],
        name: str,
        call_options: Mapping[str, Any] | None = None,
        queue: BaseQueue | None = None,
    ) -> None:
        self.func = func
        self.name = name
        self._call_options = dict(call_options or {})
        self._queue = queue
        self.__doc__ = func.__doc__
        self.__wrapped__ = func

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Job {self.name!r}>"

    @property
    def queue(self) -> BaseQueue:
        """The queue this job is sent to: the one bound by ``using()``, else the app's."""
        return self._queue if self._queue is not None else get_job_queue()

    def using(
        self,
        *,
        backend: BaseQueue | None = None,
        **options: Any,
    ) -> Job[P, R]:
        """A copy that enqueues with other per-call options (``queue``, ``delay``, ``eta``,
        ``priority``, ``timeout``, ``retries``) or onto an explicit queue object."""
        merged = {**self._call_options, **options}
        return Job(self.func, self.name, merged, backend if backend is not None else self._queue)

    def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> JobResult:
        """Send one call to the queue; returns a :class:`JobResult` to follow it."""
        return self.queue.submit(self.name, args, kwargs, **self._call_options)

    async def aenqueue(self, *args: P.args, **kwargs: P.kwargs) -> JobResult:
        """:meth:`enqueue` for async code (``await job.aenqueue(...)``): the event loop is not
        blocked while the backend sends (see :meth:`BaseQueue.asubmit`)."""
        return await self.queue.asubmit(self.name, args, kwargs, **self._call_options)

    def enqueue_many(self, calls: Iterable[Call | Sequence[Any]]) -> list[str]:
        """Send many calls at once (see :meth:`BaseQueue.enqueue_many`); returns their ids."""
        return self.queue.enqueue_many(self.name, calls, **self._call_options)


class JobCollector:
    """Collects job functions at import time and registers them once an app is configured.

    A singleton is fine: it is used at import time and when an app is registered.
    """

    def __init__(self) -> None:
        self._jobs: dict[str, tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = {}

    @property
    def jobs(self) -> dict[str, tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]]:
        """name -> (function, args, kwargs) for the backend's ``register_job``."""
        return self._jobs

    def register_job(
        self,
        name: str,
        func: Callable[..., Any],
        args: tuple[Any, ...] = (),
        kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        """Collect ``func`` under the unique ``name``; a second function under it raises."""
        existing = self._jobs.get(name)
        if existing is not None and not _same_function(existing[0], func):
            raise DuplicateJob(
                f"Two jobs are named {name!r}: {_where(existing[0])} and {_where(func)}. "
                f"Pass a distinct name to @job(name=...)."
            )
        self._jobs[name] = (func, tuple(args), dict(kwargs or {}))

    def register_app(self, app: Any, *, prefix: str = DEFAULT_PREFIX) -> BaseQueue | None:
        """Build the queue ``app``'s configuration names and register every collected job with it.

        ``app`` is a Flask app, any object with a ``config`` mapping, or a plain mapping. The
        queue is stored per app (process-wide for a plain mapping). With no ``<prefix>BACKEND``
        (or ``<prefix>CLASS``) set, no queue is created and ``has_job_queue()`` is False.
        """
        config = app.config if hasattr(app, "config") else app
        if not isinstance(config, Mapping):
            raise TypeError(
                f"register_app() needs a Flask app, an object with a config mapping or a mapping, "
                f"got {type(app).__name__}."
            )
        from .config import create_queue, read_prefixed  # the whole contract: on first use

        backend, options = read_prefixed(config, prefix)
        queue: BaseQueue | None = None
        if backend not in (None, ""):
            queue = create_queue(options, backend=backend)
            self.register_jobs(queue)
            if app is not config:
                queue.app = app
        _store(app if app is not config else None, queue)
        return queue

    def register_jobs(self, queue: BaseQueue) -> BaseQueue:
        """Register every collected job with ``queue`` (for queues built without an app)."""
        for name, (func, args, kwargs) in self._jobs.items():
            queue.register_job(name, func, *args, **kwargs)
        return queue


def _same_function(a: Callable[..., Any], b: Callable[..., Any]) -> bool:
    # A module imported twice (reload, or as __main__ and by name) defines the function anew.
    return a is b or _where(a) == _where(b)


def _where(func: Callable[..., Any]) -> str:
    return f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', repr(func))}"


#: The process-wide collector that ``@job`` adds to.
JOB_COLLECTOR = JobCollector()

_lock = threading.Lock()
_app_queues: weakref.WeakKeyDictionary[Any, BaseQueue | None] = weakref.WeakKeyDictionary()
_process_queue: BaseQueue | None = None


def _store(app: Any, queue: BaseQueue | None) -> None:
    """Keep ``queue`` for ``app``; a plain mapping or a non-Flask object sets the process's queue.

    A Flask app's queue is found through ``current_app``, so several apps in one process keep
    their own queues and an unregistered app never borrows another's.
    """
    global _process_queue
    with _lock:
        if app is not None:
            if _weakable(app):
                _app_queues[app] = queue
            else:  # remember it on the object itself
                app.queuekit_queue = queue
            extensions = getattr(app, "extensions", None)
            if isinstance(extensions, dict):
                extensions["queuekit"] = queue
        if app is None or not callable(getattr(app, "app_context", None)):
            _process_queue = queue


def _current_app() -> Any:
    """The Flask app of the active app context, if Flask is in use and one is active."""
    flask = sys.modules.get("flask")
    if flask is None or not flask.has_app_context():
        return None
    return flask.current_app._get_current_object()


def _lookup(app: Any) -> BaseQueue | None:
    if app is None:
        app = _current_app()
    if app is not None:
        queue = (
            _app_queues.get(app, _NOT_REGISTERED)
            if _weakable(app)
            else getattr(app, "queuekit_queue", _NOT_REGISTERED)
        )
        if queue is not _NOT_REGISTERED:
            return queue  # type: ignore[no-any-return]
    return _process_queue


def _weakable(app: Any) -> bool:
    """True when ``app`` can key the WeakKeyDictionary: weak-referenceable and hashable."""
    try:
        weakref.ref(app)
        hash(app)
    except TypeError:
        return False
    return True


def get_job_queue(app: Any = None) -> BaseQueue:
    """The queue registered for ``app`` (default: the current Flask app, else the process)."""
    queue = _lookup(app)
    if queue is None:
        raise NoQueueConfigured(
            "No job queue is configured: set QUEUEKIT_BACKEND (or PI_JOB_QUEUE_CLASS with "
            "prefix='PI_JOB_QUEUE_') in the app config and call register_app(app) first."
        )
    return queue


def has_job_queue(app: Any = None) -> bool:
    """True when a queue is configured for ``app`` (default: the current app, else the process)."""
    return _lookup(app) is not None


def register_app(app: Any, *, prefix: str = DEFAULT_PREFIX) -> BaseQueue | None:
    """Register ``app`` with the global :data:`JOB_COLLECTOR` (see :meth:`JobCollector.register_app`)."""
    return JOB_COLLECTOR.register_app(app, prefix=prefix)


def reset() -> None:
    """Forget every registered queue (tests; it does not close them)."""
    global _process_queue
    with _lock:
        _app_queues.clear()
        _process_queue = None


def wrap_job(name: str, result: R) -> Callable[..., R]:
    """A function that enqueues job ``name`` with its arguments and always returns ``result``.

    It raises :class:`NoQueueConfigured` when called without a configured queue.
    """

    def caller(*args: Any, **kwargs: Any) -> R:
        get_job_queue().enqueue(name, args, kwargs)
        return result

    caller.__name__ = caller.__qualname__ = f"enqueue_{name.replace('.', '_')}"
    return caller


@overload
def job(name: Callable[P, R], /) -> Job[P, R]: ...


@overload
def job(
    name: str | None = None, /, *args: Any, **options: Any
) -> Callable[[Callable[P, R]], Job[P, R]]: ...


def job(name: Any = None, /, *args: Any, **options: Any) -> Any:
    """Collect a job: ``@job``, ``@job("mail.send")`` or ``@job(name="mail.send", queue="mail")``.

    The name defaults to ``module.function``. Extra args and options are passed to the backend's
    ``register_job``; portable ones (queue, priority, timeout, retries) become per-job defaults.
    """
    if callable(name):
        return job()(name)
    if "name" in options:
        name = options.pop("name")

    def decorate(func: Callable[P, R]) -> Job[P, R]:
        job_name = name or f"{func.__module__}.{func.__qualname__}"
        JOB_COLLECTOR.register_job(job_name, func, args, options)
        return Job(func, job_name)

    return decorate
