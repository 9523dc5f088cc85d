"""The Celery backend: a Celery app from queuekit options (or the application's own), one Celery
task per job, Celery's worker inside ``queuekit worker``.

Wire: Celery task messages serialized by Celery's JSON serializer; the one positional argument is
the queuekit envelope as JSON text (text, not an object, so that kombu's JSON type hooks cannot
turn a user's ``{"__type__": ...}`` dict into a datetime on the way).

State: every record in the result backend is written by queuekit through Celery's backend API, in
Celery's states and formats (SENT, STARTED, RETRY, SUCCESS, FAILURE, REVOKED), so AsyncResult and
Flower read them; queuekit's own fields (attempt, timestamps, error type) ride along as a result
stamp named ``queuekit``. Celery's tasks are declared ``ignore_result`` so its tracer never
overwrites them.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, ClassVar
from urllib.parse import urlsplit

from celery import Celery, Task, signals, states  # type: ignore[import-untyped]
from celery.app.defaults import NAMESPACES, flatten  # type: ignore[import-untyped]
from celery.app.task import Context  # type: ignore[import-untyped]
from celery.backends.base import BaseKeyValueStoreBackend  # type: ignore[import-untyped]
from celery.backends.redis import RedisBackend  # type: ignore[import-untyped]
from celery.exceptions import Ignore, TimeLimitExceeded  # type: ignore[import-untyped]
from celery.exceptions import Retry as CeleryRetry
from celery.utils.saferepr import saferepr  # type: ignore[import-untyped]
from celery.utils.text import truncate  # type: ignore[import-untyped]

from queuekit import (
    BaseQueue,
    ConfigurationError,
    ErrorInfo,
    JobResult,
    JobStatus,
    QueueError,
    ResultUnavailable,
    UnsupportedCapability,
)
from queuekit.envelope import Envelope
from queuekit.options import Option, suggest
from queuekit.policies import RetryPolicy, backoff_from_wire
from queuekit.redact import redact
from queuekit.runtime import Outcome, error_info

from ._confirms import publish_confirmed

logger = logging.getLogger("queuekit.celery")

#: The state queuekit stores when it hands a job to the broker (Celery's FAQ recipe for telling
#: a waiting task from an unknown id; Celery itself keeps no record before a worker starts it).
SENT = "SENT"

#: queuekit priorities are clamped to 0..PRIORITY_MAX; higher runs sooner.
PRIORITY_MAX = 9

#: Seconds ``enqueue_many`` waits for RabbitMQ's confirms of a batch.
BATCH_CONFIRM_TIMEOUT = 30.0

#: Celery settings queuekit fixes: JSON is the only accepted content on every wire.
_JSON_ONLY = {
    "task_serializer": "json",
    "result_serializer": "json",
    "event_serializer": "json",
    "accept_content": ["json"],
    "result_accept_content": ["json"],
}

_REDIS_SCHEMES = {"redis", "rediss", "redis+socket"}
_AMQP_SCHEMES = {"amqp", "amqps", "pyamqp"}

_CELERY_SETTINGS: dict[str, Any] = dict(flatten(NAMESPACES))

_STATUS = {
    SENT: JobStatus.QUEUED,
    states.PENDING: JobStatus.QUEUED,
    states.RECEIVED: JobStatus.QUEUED,
    states.STARTED: JobStatus.RUNNING,
    states.RETRY: JobStatus.SCHEDULED,
    states.SUCCESS: JobStatus.SUCCEEDED,
    states.FAILURE: JobStatus.FAILED,
    states.REVOKED: JobStatus.CANCELED,
}


class CeleryBackendError(QueueError):
    """An error of the celery backend."""


class BrokerUnavailable(CeleryBackendError, ConnectionError):
    """The broker (or result backend) did not take the job within the configured time."""


class JobFailed(Exception):
    """Raised by a queuekit task after the runtime recorded a failure, so Celery's events, logs
    and signals count the task as failed. The job's own error is in the result and failed store."""


def _scheme(url: str) -> str:
    return urlsplit(url).scheme.lower() if "://" in url else ""


def _iso_to_ts(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return parsed.timestamp()
    return None


def _dt(value: Any) -> datetime | None:
    if type(value) in (int, float) and value:
        return datetime.fromtimestamp(value, timezone.utc)
    return None


def _exception_payload(error: ErrorInfo) -> dict[str, Any]:
    """An error in Celery's JSON exception format (what ``prepare_exception`` writes)."""
    module, _, name = error.type.rpartition(".")
    if not module:
        module = "builtins" if isinstance(getattr(builtins, name, None), type) else ""
    return {"exc_type": name, "exc_message": [error.message], "exc_module": module or None}


def _coerce_setting(key: str, value: Any) -> Any:
    """A Celery setting from a config file or the environment (strings) to its Python type."""
    if not isinstance(value, str):
        return value
    kind = getattr(_CELERY_SETTINGS[key], "type", "any")
    if kind in ("dict", "tuple", "list"):
        try:
            decoded = json.loads(value)
        except ValueError:
            raise ConfigurationError(
                f"Celery setting {key!r} takes a JSON {kind}, got {redact(value)!r}."
            ) from None
        return tuple(decoded) if kind == "tuple" and isinstance(decoded, list) else decoded
    if kind in ("string", "any"):
        return value
    try:
        return _CELERY_SETTINGS[key].to_python(value)
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"Celery setting {key!r} must be {kind}, got {redact(value)!r}."
        ) from None


def _load_app(value: Any) -> Any:
    if isinstance(value, str):
        module_name, _, attr = value.partition(":")
        try:
            target = getattr(importlib.import_module(module_name), attr or "app")
        except (ImportError, AttributeError) as exc:
            raise ConfigurationError(
                f"celery_app={value!r} cannot be loaded ({exc}); give 'module:attribute' naming "
                f"a Celery instance."
            ) from exc
        value = target
    if not isinstance(value, Celery):
        raise ConfigurationError(
            f"celery_app must be a celery.Celery instance or 'module:attribute', got "
            f"{type(value).__name__}."
        )
    return value


class _QueuekitTask(Task):  # type: ignore[misc]
    """Base of the Celery tasks queuekit registers; one per job."""

    #: The queue that registered this task (set per task by ``CeleryQueue``).
    queuekit_queue: CeleryQueue | None = None


class CeleryQueue(BaseQueue):
    """Jobs as Celery tasks on Redis or RabbitMQ, run by Celery's worker."""

    backend_name: ClassVar[str] = "celery"

    supports_delay: ClassVar[bool] = True  # Celery eta: the worker holds the message until due
    supports_priority: ClassVar[bool] = True  # message priority 0..9 (RabbitMQ x-max-priority)
    supports_results: ClassVar[bool] = True  # Celery's result backend, when one is configured
    supports_retries: ClassVar[bool] = True  # queuekit's policy; the next attempt is a message
    supports_timeout: ClassVar[bool] = True  # soft: the runtime; hard: Celery's time_limit
    supports_named_queues: ClassVar[bool] = True  # one Celery queue per queuekit queue
    supports_bulk: ClassVar[bool] = True  # one producer and connection for a batch
    supports_cancel: ClassVar[bool] = True  # revoke, made durable in the result backend
    supports_unique: ClassVar[bool] = True  # RedisLocks on the state Redis
    supports_failed_store: ClassVar[bool] = True  # RedisFailedStore on the state Redis
    delivery: ClassVar[str] = "at-most-once"  # type: ignore[assignment]  # Celery acks at start; acks_late=true: at-least-once

    capability_notes: ClassVar[dict[str, str]] = {
        "delay": "native: Celery eta (the worker holds the message; on Redis a delay longer "
        "than broker_transport_options.visibility_timeout, 1 h, may run twice)",
        "priority": "native on RabbitMQ (queues declared with x-max-priority 9); approximate on "
        "Redis (kombu keeps one list per level 0..9 and polls them in order; Redis's 0 is the "
        "highest, so queuekit maps p to 9 - p); priorities are clamped to 0..9; a prefetched "
        "message keeps its place",
        "results": "native: Celery's result backend (result_backend=); absent without one",
        "retries": "emulated by the queuekit runtime (retry_on, discard_on, backoff, Retry); "
        "the next attempt is a new Celery message with the same task id, retries=attempt-1 "
        "and an eta, and Celery sees the task as retried",
        "timeout": "soft: the queuekit runtime stops the job (SIGALRM in a prefork child or the "
        "solo pool; abandoned in the threads pool) and fails or retries it; hard: Celery's "
        "time_limit (timeout + hard_timeout_grace, prefork only) kills the child process",
        "cancel": "Celery revoke, plus a REVOKED record the task checks before it runs (needs "
        "the result backend)",
        "unique": "RedisLocks on the state Redis (state_url, or the broker/result backend URL)",
        "failed_store": "RedisFailedStore on the state Redis",
        "delivery": "at-most-once by default (Celery acks a message when its task starts); "
        "acks_late=true: at-least-once (task_acks_late + task_reject_on_worker_lost)",
    }

    accepts_extra_options: ClassVar[bool] = True  # Celery settings pass through to app.conf

    options_schema: ClassVar[dict[str, Option]] = {
        "result_backend": Option(str, None, "Celery result backend URL; none: no results"),
        "celery_app": Option(object, None, "an existing Celery app, or 'module:attribute'"),
        "app": Option(object, None, "alias of celery_app"),
        "queue_prefix": Option(str, "", "prefix of the Celery queue names (queuekit's 'default')"),
        "acks_late": Option(bool, False, "ack after the job ran: at-least-once delivery"),
        "pool": Option(
            str,
            "prefork",
            "Celery worker pool",
            choices=("prefork", "threads", "solo"),
        ),
        "concurrency": Option(int, None, "worker processes/threads (default: Celery's, CPUs)"),
        "hard_timeout_grace": Option(
            float, 5.0, "seconds past timeout= before Celery kills a prefork child"
        ),
        "connect_timeout": Option(float, 5.0, "seconds to connect to the broker or Redis"),
        "state_url": Option(str, None, "Redis URL for failed jobs and unique locks"),
        "key_prefix": Option(str, None, "prefix of queuekit's Redis keys"),
        "worker_name": Option(str, None, "Celery node name (default queuekit-<pid>@<host>)"),
        "mingle": Option(bool, False, "worker startup sync with other workers (waits ~1 s)"),
        "gossip": Option(bool, False, "worker gossip with other workers"),
        "events": Option(bool, False, "send task events (for Flower's live view)"),
    }

    def __init__(self, options: Mapping[str, Any] | None = None, /, **kwargs: Any) -> None:
        super().__init__(options, **kwargs)
        settings = self._celery_settings()
        supplied = self.options["celery_app"] or self.options["app"]
        if supplied is not None:
            if self.url or self.options["result_backend"] or settings:
                given = [k for k in ("url", "result_backend") if self.options[k]] + list(settings)
                raise ConfigurationError(
                    f"Options {', '.join(given)} cannot be combined with celery_app: configure "
                    f"the Celery app itself (broker_url, result_backend, ...)."
                )
            self.celery: Any = _load_app(supplied)
            self._own_app = False
            self._check_json_only(self.celery.conf)
            self.url = self.celery.conf.broker_url
            backend_url = self.celery.conf.result_backend
        else:
            if not self.url:
                raise ConfigurationError(
                    "The celery backend needs a broker URL: url='redis://localhost:6379/0' or "
                    "url='amqp://guest:guest@localhost:5672//' (or pass celery_app=)."
                )
            backend_url = self.options["result_backend"]
            self.celery = None
            self._own_app = True
        self.broker_kind = self._broker_kind(str(self.url))
        if backend_url is not None and not isinstance(backend_url, str):
            backend_url = None  # a backend object configured in code: not one queuekit can read
        if backend_url and _scheme(backend_url) in ("rpc", "amqp"):
            raise ConfigurationError(
                f"result_backend {redact(backend_url)!r} sends results back to the caller only; "
                f"queuekit reads results by job id from any process. Use a redis:// or db+ URL."
            )
        self.result_backend_url: str | None = backend_url or None
        if self._own_app:
            self.celery = self._build_app(settings)
        else:
            self._adapt_app()
        if self.result_backend_url is None:
            # No result backend: nothing to read a job's state from, nor to keep a revoke in.
            self.supports_results = False  # type: ignore[misc]
            self.supports_cancel = False  # type: ignore[misc]
        if self.options["acks_late"]:
            self.delivery = "at-least-once"  # type: ignore[misc]
        self._local = threading.local()
        self._redis: Any = None
        self._init_state_store()
        self._signals_connected = False

    # -- configuration ----------------------------------------------------------------------

    def _celery_settings(self) -> dict[str, Any]:
        """Options beyond queuekit's own, as Celery settings (``celery_`` prefix optional)."""
        known = {**self.common_options, **self.options_schema}
        settings: dict[str, Any] = {}
        for key in [k for k in self.options if k not in known]:
            value = self.options.pop(key)
            name = key[len("celery_") :] if key.startswith("celery_") else key
            if name not in _CELERY_SETTINGS:
                raise ConfigurationError(
                    f"Unknown option {key!r} for backend 'celery': neither a queuekit option nor "
                    f"a Celery setting.{suggest(name, [*known, *_CELERY_SETTINGS])} queuekit "
                    f"options: {', '.join(sorted(known))}; Celery settings pass through by their "
                    f"lower-case names (worker_prefetch_multiplier, broker_transport_options, ...)."
                )
            settings[name] = _coerce_setting(name, value)
        self._check_json_only(settings)
        self.options.update({f"celery_{k}": v for k, v in settings.items()})
        return settings

    @staticmethod
    def _check_json_only(conf: Mapping[str, Any]) -> None:
        for key, wanted in _JSON_ONLY.items():
            value = conf.get(key)
            if value is None or value == wanted:
                continue
            values = [value] if isinstance(value, str) else list(value)
            if all(v in ("json", "application/json") for v in values):
                continue
            raise ConfigurationError(
                f"Celery setting {key}={value!r} is refused: queuekit carries JSON only (pickle "
                f"on a wire lets whoever can write to the broker run code). Use {wanted!r}."
            )

    @staticmethod
    def _broker_kind(url: str) -> str:
        scheme = _scheme(url)
        if scheme in _REDIS_SCHEMES:
            return "redis"
        if scheme in _AMQP_SCHEMES:
            return "amqp"
        raise ConfigurationError(
            f"The celery backend supports Redis and RabbitMQ brokers; {redact(url)!r} is neither. "
            f"Use redis://host:6379/0 or amqp://user:password@host:5672//."
        )

    def _transport_options(self, existing: Mapping[str, Any] | None) -> dict[str, Any]:
        options = dict(existing or {})
        if self.broker_kind == "redis":
            # Ten lists, polled in order: Redis's 0 is the highest priority.
            options.setdefault("priority_steps", list(range(PRIORITY_MAX + 1)))
            options.setdefault("queue_order_strategy", "priority")
            options.setdefault("socket_connect_timeout", self.options["connect_timeout"])
        else:
            # Publisher confirms: enqueue returns once RabbitMQ has the message, not before.
            options.setdefault("confirm_publish", True)
        return options

    def _build_app(self, settings: dict[str, Any]) -> Any:
        timeout = self.options["connect_timeout"]
        conf: dict[str, Any] = {
            **_JSON_ONLY,
            "broker_url": self.url,
            "result_backend": self.result_backend_url,
            "result_extended": True,  # stores name/args/queue, and queuekit's stamp
            "task_default_queue": self._celery_queue(self.default_queue),
            "task_queue_max_priority": PRIORITY_MAX,  # x-max-priority on declared queues
            "task_acks_late": self.options["acks_late"],
            "task_reject_on_worker_lost": self.options["acks_late"],
            "worker_prefetch_multiplier": 1,  # priority and fairness over prefetch throughput
            "worker_hijack_root_logger": False,  # `queuekit worker --logfile` keeps its handler
            "broker_connection_timeout": timeout,
            "broker_connection_retry_on_startup": True,
            "task_publish_retry_policy": {
                "max_retries": 2,
                "interval_start": 0,
                "interval_step": 0.5,
                "interval_max": 1,
            },
            "redis_socket_connect_timeout": timeout,
            "result_backend_transport_options": {
                "retry_policy": {"max_retries": 2, "interval_start": 0, "interval_step": 0.5}
            },
            "worker_send_task_events": self.options["events"],
            "task_send_sent_event": self.options["events"],
        }
        if _scheme(str(self.url)) == "redis":
            # kombu's Redis transport, with one client object per pool (queuekit-kombu's).
            conf["broker_transport"] = "queuekit_kombu.redis_transport:Transport"
        conf.update(settings)
        conf["broker_transport_options"] = self._transport_options(
            conf.get("broker_transport_options")
        )
        app = Celery(f"queuekit-{self.default_queue}", set_as_current=False)
        app.conf.update(conf)
        return app

    def _adapt_app(self) -> None:
        """What queuekit needs from an application's Celery app, set only where unset."""
        conf = self.celery.conf
        if self.result_backend_url:
            conf.result_extended = True
        if conf.task_queue_max_priority is None:
            conf.task_queue_max_priority = PRIORITY_MAX
        conf.broker_transport_options = self._transport_options(conf.broker_transport_options)

    def _init_state_store(self) -> None:
        state_url = self.options["state_url"]
        if state_url is None:
            for candidate in (str(self.url), self.result_backend_url or ""):
                if _scheme(candidate) in _REDIS_SCHEMES:
                    state_url = candidate
                    break
        if state_url is None:
            self.supports_failed_store = False  # type: ignore[misc]
            self.supports_unique = False  # type: ignore[misc]
            return
        import redis

        from queuekit.redis_stores import RedisFailedStore, RedisLocks

        timeout = self.options["connect_timeout"]
        self._redis = redis.Redis.from_url(
            state_url, socket_connect_timeout=timeout, socket_timeout=max(timeout, 10.0)
        )
        prefix = self.options["key_prefix"] or (
            f"queuekit:celery:{self.options['queue_prefix']}{self.default_queue}"
        )
        self.failed_store = RedisFailedStore(self._redis, prefix)
        self.locks = RedisLocks(self._redis, prefix)

    def _celery_queue(self, name: str) -> str:
        return f"{self.options['queue_prefix']}{name}"

    def _native_priority(self, priority: Any) -> int:
        value = max(0, min(PRIORITY_MAX, int(priority or 0)))
        return PRIORITY_MAX - value if self.broker_kind == "redis" else value

    # -- jobs -----------------------------------------------------------------------------------

    def register_job(self, name: str, func: Any, *args: Any, **options: Any) -> None:
        """Register the job with queuekit and as a Celery task of the same name; options that
        are not queuekit's (``rate_limit``, ``expires`` ...) go to the Celery task."""
        super().register_job(name, func, *args, **options)
        queue = self

        def run(task: Any, message: Any) -> Any:
            return queue._run_task(task, message)

        run.__name__ = run.__qualname__ = name.rpartition(".")[2] or "job"
        run.__module__ = getattr(func, "__module__", __name__)
        self.celery.task(
            name=name,
            bind=True,
            base=_QueuekitTask,
            shared=False,
            ignore_result=True,  # queuekit writes every result record itself
            serializer="json",
            max_retries=None,  # retries follow queuekit's policy
            typing=False,
            acks_late=self.options["acks_late"],
            reject_on_worker_lost=self.options["acks_late"],
            queuekit_queue=queue,
            **self.jobs[name].backend_options,
        )(run)

    # -- producer side --------------------------------------------------------------------------

    def _send(self, envelope: Envelope) -> None:
        self._send_many([envelope])

    def _send_many(self, envelopes: list[Envelope], *, mark: bool = True) -> None:
        marked: list[str] = []
        try:
            if mark and self.supports_results:
                marked = [envelope.id for envelope in envelopes]
                self._store_waiting(envelopes)
            with self.celery.producer_or_acquire() as producer:
                many = len(envelopes) > 1
                batch_publish = self._batch_publisher(producer) if many else None
                publish: Callable[..., None] = batch_publish or self._publish
                if many and self._confirms_publishes():
                    # RabbitMQ with confirms: one wait for the batch's confirms, not one each;
                    # the first message declares the queue (kombu's maybe_declare copies the
                    # queue for every message, whether it declares or not).
                    first = envelopes[0]
                    publish_confirmed(
                        producer,
                        envelopes,
                        lambda envelope: publish(
                            envelope,
                            producer,
                            declare=envelope is first or envelope.queue != first.queue,
                        ),
                        BATCH_CONFIRM_TIMEOUT,
                        coalesce=all(e.queue == first.queue for e in envelopes),
                    )
                    return
                batch = getattr(producer, "batch", None)  # kombu >= 5.7: one pipeline on Redis
                with batch() if batch is not None and many else _nothing():
                    for envelope in envelopes:
                        publish(envelope, producer)
        except QueueError:
            raise
        except Exception as exc:
            for job_id in marked:
                with contextlib.suppress(Exception):
                    self.celery.backend.forget(job_id)
            raise self._unavailable(exc) from None

    def _confirms_publishes(self) -> bool:
        options = self.celery.conf.broker_transport_options or {}
        return self.broker_kind == "amqp" and bool(options.get("confirm_publish"))

    def _unavailable(self, exc: BaseException) -> BrokerUnavailable:
        where = redact(str(self.url))
        if self.result_backend_url:
            where += f" (result backend {redact(self.result_backend_url)})"
        return BrokerUnavailable(
            f"The celery broker at {where} did not take the job: {type(exc).__name__}: "
            f"{redact(str(exc))}. Check that it is running and reachable; connect_timeout="
            f"{self.options['connect_timeout']:g} s bounds each attempt."
        )

    def _publish(self, envelope: Envelope, producer: Any, declare: bool = True) -> None:
        options: dict[str, Any] = {
            "task_id": envelope.id,
            "args": [envelope.encode().decode()],
            "queue": self._celery_queue(envelope.queue),
            "priority": self._native_priority(envelope.options.get("priority")),
            "retries": envelope.attempt - 1,
            "producer": producer,
            "ignore_result": True,
            "serializer": "json",
            "add_to_parent": False,
        }
        eta = envelope.options.get("eta")
        if eta is not None and eta > time.time():
            options["eta"] = datetime.fromtimestamp(eta, timezone.utc)
        timeout = envelope.options.get("timeout")
        if timeout:
            options["time_limit"] = float(timeout) + self.options["hard_timeout_grace"]
        if not declare:
            options["declare"] = []  # its queue was declared by this batch's first message
        self.celery.send_task(envelope.job, **options)

    def _batch_publisher(self, producer: Any) -> _BatchPublisher | None:
        """What sends a batch's messages, or None where Celery's ``send_task`` must decide each
        message's route itself (task_routes, protocol 1)."""
        app = self.celery
        if app.amqp.router.routes or app.conf.task_protocol != 2:
            return None
        return _BatchPublisher(self, app, producer)

    def _retry(self, envelope: Envelope, delay: float) -> None:
        # The RETRY record with the error is stored already (by _record); only send.
        options = {k: v for k, v in envelope.options.items() if k != "eta"}
        if delay > 0:
            options["eta"] = time.time() + delay
        self._send_many(
            [replace(envelope, attempt=envelope.attempt + 1, options=options)], mark=False
        )

    def put_raw(self, data: bytes, queue: str | None = None, job: str | None = None) -> str:
        """Send a Celery message whose argument is ``data`` rather than an envelope (tests of
        the worker's refusals); returns its task id."""
        name = job or next(iter(self.jobs))
        result = self.celery.send_task(
            name,
            args=[data.decode("utf-8", errors="replace")],
            queue=self._celery_queue(queue or self.default_queue),
            priority=self._native_priority(0),
            ignore_result=True,
        )
        return str(result.id)

    # -- result records -------------------------------------------------------------------------

    def _hostname(self) -> str | None:
        task = getattr(self._local, "task", None)
        return getattr(getattr(task, "request", None), "hostname", None)

    def _store(
        self,
        job_id: str,
        state: str,
        result: Any,
        info: dict[str, Any],
        *,
        traceback: str | None = None,
        message: str | None = None,
        request: Any = None,
    ) -> None:
        """Write one record through Celery's backend API, with queuekit's fields as a stamp."""
        if request is None:
            request = self._request(job_id, info, message)
        self.celery.backend.store_result(
            job_id, result, state, traceback=traceback, request=request
        )

    def _request(self, job_id: str, info: dict[str, Any], message: str | None) -> Any:
        """A Celery request context carrying what result_extended stores, plus the stamp."""
        return Context(
            id=job_id,
            task=info.get("job") or None,
            args=[message] if message is not None else [],
            kwargs={},
            hostname=self._hostname(),
            retries=max(int(info.get("attempt", 1)) - 1, 0),
            delivery_info={"routing_key": self._celery_queue(info.get("queue") or "default")},
            stamps={"queuekit": info},
            stamped_headers=["queuekit"],
        )

    def _waiting_request(self, envelope: Envelope) -> Any:
        info = {
            "job": envelope.job,
            "queue": envelope.queue,
            "enqueued_at": envelope.enqueued_at,
            "attempt": envelope.attempt,
        }
        if "eta" in envelope.options:
            info["eta"] = envelope.options["eta"]
        return self._request(envelope.id, info, envelope.encode().decode())

    def _store_waiting(self, envelopes: list[Envelope]) -> None:
        """Record jobs as SENT before they are published (so a fast worker's STARTED is never
        overwritten). A new id has no record to protect, so on a key-value result backend
        queuekit skips the read that store_result does first, and on Redis it writes a batch
        in one pipeline."""
        backend = self.celery.backend
        if not isinstance(backend, BaseKeyValueStoreBackend):
            for envelope in envelopes:
                self._store(envelope.id, SENT, None, {}, request=self._waiting_request(envelope))
            return
        records = []
        for envelope in envelopes:
            meta = backend._get_result_meta(None, SENT, None, self._waiting_request(envelope))
            meta["task_id"] = envelope.id
            records.append((backend.get_key_for_task(envelope.id), backend.encode(meta)))
        client = getattr(backend, "client", None)
        if isinstance(backend, RedisBackend) and client is not None and len(records) > 1:
            with client.pipeline(transaction=False) as pipe:
                for key, value in records:
                    pipe.set(key, value, ex=int(backend.expires) if backend.expires else None)
                pipe.execute()
            return
        for key, value in records:
            backend.set(key, value)

    def _record(self, outcome: Outcome) -> None:
        if not self.supports_results:
            return
        envelope = outcome.envelope
        job_id = outcome.job_id if envelope is not None else None
        job_id = job_id or getattr(self._local, "task_id", None) or outcome.job_id
        if not job_id:
            return
        info: dict[str, Any] = {
            "job": envelope.job if envelope else "",
            "queue": envelope.queue if envelope else self.default_queue,
            "enqueued_at": envelope.enqueued_at if envelope else None,
            "attempt": envelope.attempt if envelope else 1,
            "started_at": outcome.started_at,
            "finished_at": outcome.finished_at,
        }
        message = envelope.encode().decode() if envelope else None
        if outcome.status is JobStatus.SUCCEEDED:
            self._store(job_id, states.SUCCESS, outcome.return_value, info, message=message)
            return
        error = outcome.error or ErrorInfo("Error", "the job failed")
        info["error"] = {"type": error.type, "message": error.message}
        state = states.FAILURE
        if outcome.retry_in is not None:
            state = states.RETRY
            info["eta"] = time.time() + outcome.retry_in
            del info["finished_at"]
        self._store(
            job_id,
            state,
            _exception_payload(error),
            info,
            traceback=error.traceback or None,
            message=message,
        )

    def _get_result(self, job_id: str) -> JobResult:
        meta = self.celery.backend.get_task_meta(job_id, cache=False)
        info = meta.get("queuekit")
        state = meta.get("status", states.PENDING)
        if not isinstance(info, dict):
            if state == states.PENDING:
                raise ResultUnavailable(
                    f"No result for job {job_id!r} in the celery result backend: it was never "
                    f"enqueued through queuekit, or its result expired (result_expires)."
                )
            info = {}  # a record Celery wrote itself
        status = _STATUS.get(state, JobStatus.RUNNING)
        if state == SENT and (info.get("eta") or 0) > time.time():
            status = JobStatus.SCHEDULED
        error = None
        if status in (JobStatus.FAILED, JobStatus.SCHEDULED) and state != SENT:
            recorded = info.get("error")
            if isinstance(recorded, dict):
                error = ErrorInfo(
                    str(recorded.get("type")),
                    str(recorded.get("message")),
                    str(meta.get("traceback") or ""),
                )
            elif meta.get("result") is not None:
                exc = meta["result"]
                error = ErrorInfo(type(exc).__name__, str(exc), str(meta.get("traceback") or ""))
        attempt = int(info.get("attempt") or 1)
        finished = info.get("finished_at") or _iso_to_ts(meta.get("date_done"))
        return JobResult(
            id=job_id,
            job_name=str(info.get("job") or meta.get("name") or ""),
            status=status,
            queue=str(info.get("queue") or self.default_queue),
            return_value=meta.get("result") if state == states.SUCCESS else None,
            error=error,
            enqueued_at=_dt(info.get("enqueued_at")),
            started_at=_dt(info.get("started_at")),
            finished_at=_dt(finished) if status.finished else None,
            attempts=attempt - 1 if state == SENT else attempt,
            backend=self,
        )

    def _cancel(self, job_id: str) -> bool:
        meta = self.celery.backend.get_task_meta(job_id, cache=False)
        info = meta.get("queuekit")
        if not isinstance(info, dict) or meta.get("status") not in (SENT, states.RETRY):
            return False
        info = {**info, "finished_at": time.time()}
        info.pop("error", None)
        revoked = {
            "exc_type": "TaskRevokedError",
            "exc_message": ["canceled through queuekit"],
            "exc_module": "celery.exceptions",
        }
        self._store(job_id, states.REVOKED, revoked, info)
        # Workers running now drop it at once; one started later finds the REVOKED record.
        with contextlib.suppress(Exception):
            self.celery.control.revoke(job_id)
        return True

    def count(self, queue: str | None = None) -> int:
        name = self._celery_queue(queue or self.default_queue)
        try:
            with self.celery.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1)
                channel = connection.channel()
                try:
                    return int(channel.queue_declare(name, passive=True).message_count)
                except connection.channel_errors:
                    return 0  # never declared: nothing waits there
                finally:
                    with contextlib.suppress(Exception):
                        channel.close()
        except QueueError:
            raise
        except Exception as exc:
            raise self._unavailable(exc) from None

    # -- worker side ----------------------------------------------------------------------------

    def _run_task(self, task: Any, message: Any) -> Any:
        """The body of every queuekit Celery task: hand the message to queuekit's runtime."""
        job_id = task.request.id
        self._local.task, self._local.task_id = task, job_id
        try:
            if self.supports_results:
                meta = self.celery.backend.get_task_meta(job_id, cache=False)
                if meta.get("status") == states.REVOKED:
                    logger.info("job %s was canceled before it started; skipping it", job_id)
                    raise Ignore()
                info = meta.get("queuekit") if isinstance(meta.get("queuekit"), dict) else {}
                info = {**info, "started_at": time.time()}
                info.pop("error", None)
                pid = {"pid": os.getpid(), "hostname": task.request.hostname}
                self._store(job_id, states.STARTED, pid, info, message=str(message))
            outcome = self.process(message)
        finally:
            self._local.task = self._local.task_id = None
        if outcome.retry_in is not None:
            # Informational: the next attempt is already sent; Celery logs and signals a retry.
            raise CeleryRetry(
                f"queuekit retries job {job_id} in {outcome.retry_in:.3g} s",
                when=outcome.retry_in,
            )
        if outcome.status is JobStatus.FAILED:
            error = outcome.error
            raise JobFailed(f"job {job_id} failed: {error}" if error else f"job {job_id} failed")
        return outcome.return_value

    def _engine_failure(self, job_id: str, message: Any, exc: BaseException) -> None:
        """A job Celery stopped from outside (hard time limit, lost worker process): record it,
        retry it or keep it, as the runtime would have."""
        try:
            envelope = Envelope.decode(message) if message is not None else None
        except QueueError:
            envelope = None
        info = error_info(exc)
        if isinstance(exc, TimeLimitExceeded) and envelope and "timeout" in envelope.options:
            info = ErrorInfo(
                info.type,
                f"job {envelope.job!r} ({job_id}) ran past its timeout of "
                f"{envelope.options['timeout']:g} s plus hard_timeout_grace="
                f"{self.options['hard_timeout_grace']:g} s; Celery killed its worker process "
                f"({type(exc).__name__}: {exc})",
                info.traceback,
            )
        now = time.time()
        outcome = Outcome(
            JobStatus.FAILED, envelope, job_id, None, info, now, now, failure="exhausted"
        )
        spec = self.jobs.get(envelope.job) if envelope is not None else None
        if envelope is not None and spec is not None:
            decision, delay = self._policy(spec.policy, envelope).decide(envelope.attempt, exc)
            if decision == "retry":
                outcome.status, outcome.retry_in = JobStatus.SCHEDULED, delay or 0.0
            elif decision == "discard":
                outcome.failure = "discarded"
        logger.error("job %s: %s", job_id, info.message)
        self._local.task_id = job_id
        try:
            self._record(outcome)
        finally:
            self._local.task_id = None
        if outcome.retry_in is not None and envelope is not None:
            self._retry(envelope, outcome.retry_in)
            return
        from queuekit.stores import FailedJob

        if self.failed_store is not None:
            with contextlib.suppress(Exception):
                self.failed_store.add(FailedJob.from_outcome(outcome))
        if envelope is not None and self.locks is not None and "unique_key" in envelope.options:
            self.locks.release(envelope.options["unique_key"], envelope.id)

    @staticmethod
    def _policy(policy: RetryPolicy, envelope: Envelope) -> RetryPolicy:
        options = envelope.options
        if type(options.get("retries")) is int:
            policy = replace(policy, retries=options["retries"])
        if "backoff" in options:
            with contextlib.suppress(TypeError, ValueError):
                policy = replace(policy, backoff=backoff_from_wire(options["backoff"]))
        return policy

    def _on_task_failure(
        self,
        sender: Any = None,
        task_id: str | None = None,
        exception: BaseException | None = None,
        args: Any = None,
        **kwargs: Any,
    ) -> None:
        """Failures the runtime saw are recorded already (the task raised JobFailed); what is
        left is what Celery did to a job from outside: a hard time limit killed it, or its
        worker process died and the message is not requeued (Celery sends no signal then)."""
        if getattr(sender, "queuekit_queue", None) is not self or task_id is None:
            return
        if exception is None or isinstance(exception, JobFailed):
            return
        message = args[0] if isinstance(args, (list, tuple)) and args else None
        try:
            self._engine_failure(task_id, message, exception)
        except Exception:
            logger.exception("queuekit could not record the failure of job %s", task_id)

    def _on_unknown_task(self, sender: Any = None, message: Any = None, **kwargs: Any) -> None:
        """Celery refused a message for a task it does not know; let queuekit's runtime refuse
        it too, so it is recorded as UnknownJob and kept in the failed store."""
        if getattr(sender, "app", None) is not self.celery or message is None:
            return
        try:
            body = message.decode()
            raw = body[0][0] if isinstance(body, (list, tuple)) and body and body[0] else body
        except Exception:
            raw = message.body
        self._local.task_id = kwargs.get("id")
        try:
            self.process(raw if isinstance(raw, (str, bytes, dict)) else json.dumps(raw))
        except Exception:
            logger.exception("queuekit could not record the refused message %s", kwargs.get("id"))
        finally:
            self._local.task_id = None

    def run_worker(
        self,
        *,
        queues: Sequence[str] | None = None,
        concurrency: int | None = None,
        burst: bool = False,
    ) -> None:
        """Run Celery's worker in this process; SIGTERM/SIGINT: Celery's warm shutdown."""
        if burst:
            raise UnsupportedCapability(
                "Celery's worker has no burst mode; run `queuekit worker` without --burst and "
                "stop it with SIGTERM (a warm shutdown: jobs in hand finish first)."
            )
        names = [self._celery_queue(q) for q in (queues or [self.default_queue])]
        if not self._signals_connected:
            signals.task_unknown.connect(self._on_unknown_task, weak=False)
            signals.task_failure.connect(self._on_task_failure, weak=False)
            self._signals_connected = True
        level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
        worker = self.celery.Worker(
            hostname=self.options["worker_name"]
            or f"queuekit-{os.getpid()}@{socket.gethostname()}",
            queues=names,
            concurrency=concurrency or self.options["concurrency"],
            pool=self.options["pool"],
            loglevel=level if isinstance(level, str) else "INFO",
            without_mingle=not self.options["mingle"],
            without_gossip=not self.options["gossip"],
            task_events=self.options["events"],
        )
        worker.start()
        if worker.exitcode:
            raise SystemExit(worker.exitcode)

    def close(self) -> None:
        if self._own_app and self.celery is not None:
            with contextlib.suppress(Exception):
                self.celery.close()
        if self._redis is not None:
            with contextlib.suppress(Exception):
                self._redis.close()


@contextlib.contextmanager
def _nothing() -> Iterator[None]:
    yield


class _BatchPublisher:
    """Sends the messages of one batch through Celery's ``create_task_message`` and
    ``send_task_message``, the two halves of ``send_task``, with what ``send_task`` works out the
    same way for every message of a batch (the task's options, its route, the parent task, the
    reply-to id) worked out once per job name and queue. The messages are the ones ``send_task``
    sends (a test compares them); a message with an eta, or a task with ``expires``, still goes
    through ``send_task``, which treats those per message."""

    def __init__(self, queue: CeleryQueue, app: Any, producer: Any) -> None:
        self.queue = queue
        self.app = app
        self.producer = producer
        amqp = app.amqp
        self.create = amqp.create_task_message
        self.send = amqp.send_task_message
        self.argsrepr_max = amqp.argsrepr_maxsize
        self.kwargsrepr = saferepr({}, amqp.kwargsrepr_maxsize, app.conf.task_repr_maxlevels)
        self.reply_to = app.thread_oid
        self.sent_event = app.conf.task_send_sent_event
        parent = app.current_worker_task
        self.root_id = parent.request.root_id or parent.request.id if parent else None
        self.parent_id = parent.request.id if parent else None
        self.routes: dict[tuple[str, str], tuple[dict[str, Any], Any, Any] | None] = {}
        self.grace = queue.options["hard_timeout_grace"]

    def _route(self, name: str, qname: str) -> tuple[dict[str, Any], Any, Any] | None:
        """(routed options, time_limit, soft_time_limit) as ``send_task`` makes them for task
        ``name`` on queue ``qname``; None for a task with ``expires`` (made per message)."""
        task = self.app._tasks.get(name)
        options: dict[str, Any] = {}
        if task is not None:
            options = {k: v for k, v in task._get_exec_options().items() if v is not None}
        options.update(queue=qname, serializer="json")
        time_limit = options.pop("time_limit", None)
        soft_time_limit = options.pop("soft_time_limit", None)
        if options.pop("expires", None) is not None:
            return None
        options.pop("ignore_result", None)
        options.pop("priority", None)  # every message sets its own
        routed = self.app.amqp.router.route(options, name, (), None, task)
        return routed, time_limit, soft_time_limit

    def __call__(self, envelope: Envelope, producer: Any, declare: bool = True) -> None:
        queue = self.queue
        eta = envelope.options.get("eta")
        qname = queue._celery_queue(envelope.queue)
        key = (envelope.job, qname)
        try:
            route = self.routes[key]
        except KeyError:
            route = self.routes[key] = self._route(*key)
        if route is None or (eta is not None and eta > time.time()):
            queue._publish(envelope, producer, declare)
            return
        routed, time_limit, soft_time_limit = route
        options = {**routed, "priority": queue._native_priority(envelope.options.get("priority"))}
        if not declare:
            options["declare"] = []  # its queue was declared by this batch's first message
        timeout = envelope.options.get("timeout")
        if timeout:
            time_limit = float(timeout) + self.grace
        text = envelope.encode().decode()
        task_id = envelope.id
        message = self.create(
            task_id,
            envelope.job,
            [text],
            None,
            None,
            None,
            None,
            None,
            None,
            envelope.attempt - 1,
            None,
            None,
            None,
            self.reply_to,
            time_limit,
            soft_time_limit,
            self.sent_event,
            self.root_id,
            self.parent_id,
            None,
            None,
            ignore_result=True,
            replaced_task_nesting=0,
            # saferepr of a one-string list, exactly: its text quoted and cut as saferepr cuts
            argsrepr="['" + truncate(text, self.argsrepr_max - 1).replace("'", "\\'") + "']",
            kwargsrepr=self.kwargsrepr,
            **options,
        )
        with producer.connection._reraise_as_library_errors():
            self.send(producer, envelope.job, message, **options)
