"""The huey backend: huey's storages, schedule, revocation, result store and consumer.

Every registered job becomes a huey task named after the job. That task does one thing: hand
the message to ``queue.process``, queuekit's runtime, so only registered jobs run and retries,
timeouts, uniqueness and the failed store behave exactly as on every other backend.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import logging
import os
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

import redis
import redis.exceptions
from huey import signals as huey_signals  # type: ignore[import-untyped]
from huey.api import Huey  # type: ignore[import-untyped]
from huey.constants import WORKER_TYPES, EmptyData  # type: ignore[import-untyped]
from huey.consumer import Consumer, ConsumerStopped, Scheduler  # type: ignore[import-untyped]
from huey.registry import Message  # type: ignore[import-untyped]
from huey.storage import (  # type: ignore[import-untyped]
    MemoryStorage,
    PriorityRedisExpireStorage,
    PriorityRedisStorage,
    RedisExpireStorage,
    RedisStorage,
    SqliteStorage,
)

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
from queuekit.redact import redact
from queuekit.redis_stores import (
    ReachingRedis,
    RedisFailedStore,
    RedisLocks,
    outcome_to_dict,
    result_from_dict,
    send_commands,
)
from queuekit.runtime import Outcome
from queuekit.stores import FailedJob, FailedStore, LockStore

from .serializer import REFUSED, REFUSED_TASK, TASK_MODULE, JSONSerializer, envelope_message
from .stores import StorageFailedStore, StorageLocks

logger = logging.getLogger("queuekit.huey")

#: huey's consumer defaults, except max_delay: huey polls an idle SQLite queue up to 10 s apart;
#: queuekit caps it at 1 s so a job waits at most about a second for an idle worker.
_CONSUMER_OPTIONS = {
    "workers": Option(int, 1, "worker threads/processes huey's consumer runs (-c overrides)"),
    "worker_type": Option(str, "thread", "thread, process or greenlet", choices=WORKER_TYPES),
    "initial_delay": Option(float, 0.1, "seconds between polls of a queue that just emptied"),
    "max_delay": Option(float, 1.0, "longest wait between polls of an idle non-blocking storage"),
    "poll_backoff": Option(float, 1.15, "factor the poll interval grows by while idle (>= 1)"),
    # huey reads its schedule once a second; a quarter second keeps sub-second backoffs in order.
    "scheduler_interval": Option(
        float, 0.25, "seconds between looks at the schedule (0.05-60; huey's default is 1)"
    ),
    "check_worker_health": Option(bool, True, "restart a worker that died"),
    "health_check_interval": Option(float, 10.0, "seconds between worker health checks"),
    "shutdown_timeout": Option(float, None, "graceful stop: seconds before in-flight jobs are cut"),
    "graceful_signal": Option(
        str,
        "BOTH",
        "which signal stops gracefully: BOTH (SIGINT and SIGTERM), or huey's INT or TERM, "
        "where the other stops at once",
        ("BOTH", "INT", "TERM"),
    ),
    "max_tasks": Option(int, None, "recycle a worker after this many jobs"),
}

_SCHEMA = {
    "name": Option(str, "queuekit", "huey's queue name: its keys, table rows and result store"),
    "results": Option(bool, True, "keep job state and return values in huey's result store"),
    "result_ttl": Option(
        float, 7 * 24 * 3600.0, "Redis: seconds job state is kept (0 keeps it until deleted)"
    ),
    "immediate": Option(
        bool, None, "run jobs inside enqueue (huey's immediate mode; default only for memory://)"
    ),
    "utc": Option(bool, True, "huey keeps eta times in UTC"),
    "priority": Option(bool, True, "Redis: a sorted-set queue with priorities (PriorityRedisHuey)"),
    "blocking": Option(bool, True, "Redis: workers block on the queue instead of polling"),
    "read_timeout": Option(float, 1.0, "Redis: seconds one blocking read waits"),
    "socket_timeout": Option(float, 5.0, "Redis: seconds a command may take before it fails"),
    "socket_connect_timeout": Option(float, 5.0, "Redis: seconds to connect before failing"),
    "max_connections": Option(int, None, "Redis: connection pool size"),
    "filename": Option(str, None, "SQLite: the database file (or url='sqlite:///path')"),
    "compression": Option(bool, False, "gzip the JSON huey stores (zlib with use_zlib)"),
    "use_zlib": Option(bool, False, "compress with zlib instead of gzip"),
    **_CONSUMER_OPTIONS,
}

_REDIS_SCHEMES = ("redis", "rediss", "unix")
# Keyword arguments huey's Redis storage takes besides the connection pool we build.
_REDIS_STORAGE_EXTRAS = frozenset({"client_name", "notify_result", "notify_result_ttl"})
_SQLITE_RESERVED = frozenset({"self", "name", "filename", "kwargs"})


class HueyConnectionError(QueueError, ConnectionError):
    """huey's storage (Redis or SQLite) cannot be reached; the message names it without secrets."""


class WorkerInterrupted(QueueError):
    """The worker stopped without waiting while this job ran; the job did not finish."""


class _StorageErrors(ReachingRedis):
    """Redis errors as :class:`ReachingRedis` words them; SQLite errors likewise."""

    __slots__ = ()

    def __exit__(self, kind: Any, exc: BaseException | None, traceback: Any) -> None:
        super().__exit__(kind, exc, traceback)
        if isinstance(exc, sqlite3.OperationalError):
            raise self.error(
                f"Cannot {self.action}: the huey backend's SQLite database {self.where} failed "
                f"({exc}). Check the path and its permissions."
            ) from exc


class _Recorder:
    """Stands in for the Redis client of a copy of huey's storage and keeps the write commands
    huey's storage code gives it (the ones its enqueue, schedule and put_data use)."""

    def __init__(self) -> None:
        self.commands: list[tuple[Any, ...]] = []

    def zadd(self, name: Any, mapping: Mapping[Any, Any]) -> None:
        for member, score in mapping.items():
            self.commands.append(("ZADD", name, score, member))

    def lpush(self, name: Any, *values: Any) -> None:
        self.commands.append(("LPUSH", name, *values))

    def set(self, name: Any, value: Any, ex: Any = None, nx: bool = False) -> None:
        command: tuple[Any, ...] = ("SET", name, value)
        if nx:
            command += ("NX",)
        if ex is not None:
            command += ("EX", ex)
        self.commands.append(command)

    def hset(self, name: Any, key: Any, value: Any) -> None:
        self.commands.append(("HSET", name, key, value))

    def hsetnx(self, name: Any, key: Any, value: Any) -> None:
        self.commands.append(("HSETNX", name, key, value))

    def delete(self, *names: Any) -> None:
        self.commands.append(("DEL", *names))

    def hdel(self, name: Any, *keys: Any) -> None:
        self.commands.append(("HDEL", name, *keys))

    def bzpopmin(self, keys: Any, timeout: Any = 0) -> None:
        self.commands.append(("BZPOPMIN", keys, timeout))

    def brpop(self, keys: Any, timeout: Any = 0) -> None:
        self.commands.append(("BRPOP", keys, timeout))


class _Pinned:
    """A worker thread's own connection of ``pool``, for ``send_commands``: a worker sends two
    batches a job, and checking a connection out of redis-py's pool and back (locks, metrics,
    a poll for unread data) cost about as much as packing them. ``send_commands`` disconnects
    it on any error, so it is never left half-read; the next send reconnects."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.pid = os.getpid()
        self.connection_kwargs = pool.connection_kwargs
        self.connection = pool.get_connection()

    def get_connection(self) -> Any:
        return self.connection

    def release(self, connection: Any) -> None:
        pass  # kept until the worker thread stops (close)

    def get_encoder(self) -> Any:
        return self.pool.get_encoder()

    def close(self) -> None:
        self.pool.release(self.connection)


class _Reply:
    """Stands in for the Redis client of a copy of huey's storage and gives its blocking pop the
    reply queuekit already has, so huey's own code reads the message out of it."""

    def __init__(self, reply: Any) -> None:
        self.reply = reply

    def bzpopmin(self, keys: Any, timeout: Any = 0) -> Any:
        return self.reply

    def brpop(self, keys: Any, timeout: Any = 0) -> Any:
        return self.reply


#: The message a SQLite worker takes, deleted and read in one statement.
_TAKE_SQL = (
    "delete from task where id = (select id from task where queue = ? "
    "order by priority desc, id limit 1) returning data"
)

#: A claim: a key/value row that only the first writer gets.
_CLAIM_SQL = "insert or abort into kv (queue, key, value) values (?, ?, ?)"
#: A key/value row, written whether or not the key has one.
_PUT_SQL = "insert or replace into kv (queue, key, value) values (?, ?, ?)"


def _naive(timestamp: float, utc: bool) -> datetime:
    """An epoch time as the naive datetime huey schedules by (UTC or local)."""
    if utc:
        return datetime.fromtimestamp(timestamp, timezone.utc).replace(tzinfo=None)
    return datetime.fromtimestamp(timestamp)


def _payload(message: Any) -> dict[str, Any] | None:
    """The envelope a huey message carries, or None when it carries none."""
    args = getattr(message, "args", None)
    payload = args[0] if args else None
    return payload if isinstance(payload, dict) else None


def _waiting(message: Any) -> dict[str, Any] | None:
    """The waiting state a job's message stands for (what ``_read`` finds under the id of a
    job no worker has taken yet), or None when it is not a queuekit envelope."""
    payload = _payload(message)
    if payload is None:
        return None
    attempt = payload.get("attempt", 1)
    options = payload.get("options")
    options = options if isinstance(options, dict) else {}
    record: dict[str, Any] = {
        "id": payload.get("id"),
        "job_name": payload.get("job", ""),
        "status": "scheduled" if "eta" in options else "queued",
        "queue": payload.get("queue"),
        "enqueued_at": payload.get("enqueued_at"),
        "attempts": attempt - 1,
        "pending_attempt": attempt,
    }
    if options.get("unique_key") is not None:
        record["unique_key"] = options["unique_key"]
    return record


class _Scheduler(Scheduler):  # type: ignore[misc]
    """huey's scheduler, allowed to look more often than once a second: retry backoffs and
    delays below a second keep their order only if the schedule is read that often."""

    def __init__(self, huey: Any, stop_flag: Any, interval: float, periodic: bool) -> None:
        super().__init__(huey, stop_flag, 1, periodic)
        self.interval = interval


class _Consumer(Consumer):  # type: ignore[misc]
    """huey's Consumer with a scheduler that may run at sub-second intervals."""

    scheduler_class = _Scheduler

    def __init__(
        self,
        huey: Any,
        scheduler_interval: float = 1.0,
        graceful_signal: str = "BOTH",
        **options: Any,
    ) -> None:
        # Set before Consumer.__init__, which builds the scheduler; huey itself clamps to >= 1 s.
        self._interval = scheduler_interval
        super().__init__(
            huey,
            scheduler_interval=max(1, round(scheduler_interval)),
            graceful_signal="INT" if graceful_signal == "BOTH" else graceful_signal,
            **options,
        )
        self.scheduler_interval = scheduler_interval
        if graceful_signal == "BOTH":
            # Process managers stop with SIGTERM and people with Ctrl-C: both let the job in
            # hand finish, as on every other queuekit backend (huey cuts it off on one of them).
            self._signal_actions[signal.SIGTERM] = (False, True)

    def _create_scheduler(self) -> Any:
        return self.scheduler_class(
            huey=self.huey,
            stop_flag=self.stop_flag,
            interval=self._interval,
            periodic=self.periodic,
        )


class _Huey(Huey):  # type: ignore[misc]
    """huey, with three changes: a message that does not decode, or names a task this worker
    does not have, becomes a call of the refusing task instead of an error in huey's worker loop
    (which would log it and drop it); huey's revocation is not used; and a worker's dequeue may
    carry writes the previous job left (see ``HueyQueue._dequeue``)."""

    #: Set by HueyQueue: ``dequeue(huey's own dequeue)``.
    queuekit_dequeue: Callable[[Callable[[], Any]], Any] | None = None

    def dequeue(self) -> Any:
        if self.queuekit_dequeue is None:
            return super().dequeue()
        return self.queuekit_dequeue(super().dequeue)

    def is_revoked(self, task: Any, timestamp: Any = None, peek: bool = True) -> bool:
        # queuekit never revokes: cancel() claims the job's attempt atomically, and the task,
        # finding the claim taken, does not run. Without huey's check before each job and the
        # deletion of its flag after, a job costs two storage round trips fewer.
        return False

    def delete(self, key: Any) -> Any:
        if isinstance(key, str) and key.startswith("r:"):
            return False  # a task's revocation flag ("r:<id>"), which queuekit never sets
        return super().delete(key)

    def deserialize_task(self, data: Any) -> Any:
        try:
            message = self.serializer.deserialize(data)
        except Exception:
            return self._refused(data, None)
        try:
            return self._registry.create_task(message)
        except Exception:
            # Any JSON decodes, but only a huey message has args: a bare envelope, a list or
            # null is refused with its raw bytes (an AttributeError here would drop it).
            args = getattr(message, "args", None)
            payload = args[0] if args else data
            return self._refused(payload, getattr(message, "id", None))

    def _refused(self, payload: Any, task_id: str | None) -> Any:
        task_class = self._registry.string_to_task(REFUSED_TASK)
        return task_class(args=(payload,), id=task_id)


class HueyQueue(BaseQueue):
    """Jobs on huey: RedisHuey (``redis://``), SqliteHuey (``sqlite:///path``) or MemoryHuey
    (``memory://``), with JSON on the wire and huey's consumer as the worker."""

    backend_name: ClassVar[str] = "huey"

    supports_delay: ClassVar[bool] = True  # huey's schedule; its scheduler enqueues due jobs
    supports_priority: ClassVar[bool] = True  # huey priorities (Redis: PriorityRedisHuey)
    supports_results: ClassVar[bool] = True  # JSON state records in huey's result store
    supports_retries: ClassVar[bool] = True  # runtime policy; next attempt on huey's schedule
    supports_timeout: ClassVar[bool] = True  # enforced by the runtime inside the huey task
    supports_named_queues: ClassVar[bool] = False  # a huey instance is one queue: use name=
    supports_bulk: ClassVar[bool] = True  # one Redis pipeline / one SQLite transaction
    supports_cancel: ClassVar[bool] = True  # huey revoke, made exact by an atomic claim
    supports_unique: ClassVar[bool] = True  # RedisLocks; huey's key/value store elsewhere
    supports_failed_store: ClassVar[bool] = True  # RedisFailedStore; a huey storage elsewhere
    delivery: ClassVar[str] = "at-most-once"  # type: ignore[assignment]  # huey pops before it runs

    capability_notes: ClassVar[dict[str, str]] = {
        "delay": "native: huey's schedule; the consumer's scheduler moves due jobs every "
        "scheduler_interval (0.25 s), so a job may start up to that much late",
        "priority": "native: huey priorities (PriorityRedisHuey sorted set, SQLite ORDER BY); "
        "absent with priority=false on Redis and in immediate mode",
        "results": "native: huey's result store holds each job's state under its id: the job's "
        "message while it waits (on SQLite its row in huey's task table), the worker's claim "
        "while it runs, then a JSON record",
        "retries": "emulated by the runtime (backoff caps and jitter, retry_on, discard_on, "
        "Retry); each next attempt is a new message on huey's native schedule",
        "timeout": "emulated by the runtime: worker_type=process stops the job with SIGALRM; "
        "with threads the job fails at its limit and its thread runs on",
        "named_queues": "absent: one huey instance serves one queue; configure another name=",
        "bulk": "a batch and its state go to Redis in one MULTI/EXEC round trip, or in one "
        "SQLite transaction; huey's own storage code builds every write; absent on memory",
        "cancel": "an atomic claim per attempt: whoever claims first wins, so a job a worker "
        "already took is never reported canceled, and the worker that takes a canceled job's "
        "message skips it (huey's revocation is not used: it costs two round trips per job)",
        "unique": "RedisLocks on Redis; on SQLite/memory huey's put_if_empty",
        "failed_store": "RedisFailedStore on Redis; a huey storage of its own on SQLite/memory",
        "delivery": "at-most-once: huey removes a message when a worker takes it; a worker "
        "killed mid-job loses the job (its state stays 'running')",
    }

    options_schema: ClassVar[dict[str, Option]] = _SCHEMA
    #: Other options go to huey's storage (client_name, journal_mode, ...) or, without a
    #: URL, to the Redis connection (host, port, db, password, ...); typos are refused.
    accepts_extra_options: ClassVar[bool] = True

    def __init__(self, options: Mapping[str, Any] | None = None, /, **kwargs: Any) -> None:
        super().__init__(options, **kwargs)
        opts = self.options
        known = {*self.common_options, *self.options_schema}
        extras = {k: v for k, v in opts.items() if k not in known}
        self.storage_kind, storage_class, storage_kwargs = self._storage_config(extras)
        self._pool: Any = storage_kwargs.get("connection_pool")
        immediate = opts["immediate"]
        if immediate is None:
            immediate = self.storage_kind == "memory"
        with self._errors("connect"):  # client_name= makes huey's Redis storage connect now
            self.huey: Any = _Huey(
                opts["name"],
                results=opts["results"],
                utc=opts["utc"],
                immediate=immediate,
                serializer=JSONSerializer(opts["compression"], use_zlib=opts["use_zlib"]),
                storage_class=storage_class,
                **storage_kwargs,
            )
        self._storage_kwargs = storage_kwargs
        self._tasks: dict[str, Any] = {}
        self.huey.task(name=REFUSED, context=True)(self._runner())
        self.huey.signal(huey_signals.SIGNAL_INTERRUPTED)(self._on_interrupted)
        storage = self.huey.storage
        self._on_redis = isinstance(storage, RedisStorage)
        # Writes on Redis go through _Recorder and send_commands (huey's result notification
        # sends a pipeline of its own: that configuration keeps redis-py's pipeline).
        self._records_commands = self._on_redis and not storage.notify_result
        self._local = threading.local()
        self._claims_expire = isinstance(storage, RedisExpireStorage)
        self._tracks_state = bool(opts["results"])
        on_sqlite = isinstance(storage, SqliteStorage)
        # On SQLite a job waiting for its first attempt has no state record: its message in
        # huey's task table is its waiting state (one write per enqueue, as huey's own), and a
        # worker claims the job in the transaction that takes it, so a job is always in one of
        # the two places _read looks (compressed messages cannot be searched: they keep it).
        self._lean_waiting = on_sqlite and self._tracks_state and not opts["compression"]
        # A worker writes a successful job's outcome with its next dequeue: on blocking Redis
        # in the same round trip (before the pop blocks), on SQLite in the same transaction.
        self._defers = (
            self._tracks_state
            and not self.huey.immediate
            and ((self._records_commands and bool(storage.blocking)) or on_sqlite)
        )
        if self._defers:
            self.huey.queuekit_dequeue = self._dequeue_sqlite if on_sqlite else self._dequeue
            self.huey.on_shutdown("queuekit-outcomes")(self._write_deferred)
        self._narrow(storage)
        self._failed_storage: Any = None
        if self._on_redis:
            prefix = f"queuekit:huey:{storage.name}"
            failed: FailedStore = RedisFailedStore(storage.conn, prefix)
            locks: LockStore = RedisLocks(storage.conn, prefix)
        else:
            self._failed_storage = self._side_storage(f"{opts['name']}_failed")
            failed = StorageFailedStore(self._failed_storage)
            locks = StorageLocks(storage)
        self.failed_store = _GuardedFailedStore(self, failed)
        self.locks = _GuardedLocks(self, locks)

    # -- configuration ------------------------------------------------------------------------

    def _storage_config(self, extras: dict[str, Any]) -> tuple[str, Any, dict[str, Any]]:
        """(kind, huey storage class, its keyword arguments) from the URL and options."""
        opts = self.options
        url = self.url
        if url is None:
            scheme = "sqlite" if opts["filename"] else "redis"
        else:
            scheme = urlsplit(url).scheme.lower()
        if scheme in _REDIS_SCHEMES:
            return "redis", *self._redis_config(extras)
        if scheme == "sqlite":
            filename = opts["filename"]
            if url is not None:
                parts = urlsplit(url)
                filename = unquote(parts.netloc + parts.path)
            if not filename:
                raise ConfigurationError(
                    "The huey backend needs a SQLite file: url='sqlite:///var/lib/jobs.db' or "
                    "filename='/var/lib/jobs.db'."
                )
            allowed = set(inspect.signature(SqliteStorage.__init__).parameters) - _SQLITE_RESERVED
            self._refuse_extras(extras, allowed, "SqliteHuey")
            return "sqlite", SqliteStorage, {"filename": filename, **extras}
        if scheme == "memory":
            self._refuse_extras(extras, set(), "MemoryHuey")
            return "memory", MemoryStorage, {}
        raise ConfigurationError(
            f"The huey backend takes redis://, rediss://, unix://, sqlite:///path or memory:// "
            f"URLs, got {redact(str(url))!r}."
        )

    def _redis_config(self, extras: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        opts = self.options
        if opts["blocking"] and opts["socket_timeout"] <= opts["read_timeout"]:
            raise ConfigurationError(
                f"socket_timeout={opts['socket_timeout']:g} must be longer than "
                f"read_timeout={opts['read_timeout']:g}: a worker's blocking read would time "
                f"out as a connection error."
            )
        storage_extras = {k: v for k, v in extras.items() if k in _REDIS_STORAGE_EXTRAS}
        connection = {k: v for k, v in extras.items() if k not in _REDIS_STORAGE_EXTRAS}
        allowed = set(inspect.signature(redis.Redis.__init__).parameters) - {
            "self",
            "connection_pool",
            "socket_timeout",
            "socket_connect_timeout",
            "max_connections",
            "single_connection_client",
        }
        self._refuse_extras(connection, allowed | _REDIS_STORAGE_EXTRAS, "RedisHuey")
        pool_options: dict[str, Any] = {
            "socket_timeout": opts["socket_timeout"],
            "socket_connect_timeout": opts["socket_connect_timeout"],
        }
        if opts["max_connections"] is not None:
            pool_options["max_connections"] = opts["max_connections"]
        if self.url is not None:
            if connection:
                raise ConfigurationError(
                    f"Give the Redis server either as url= or as {', '.join(sorted(connection))}"
                    f", not both."
                )
            pool = redis.ConnectionPool.from_url(self.url, **pool_options)
        else:
            pool = redis.ConnectionPool(**connection, **pool_options)
        ttl = opts["result_ttl"]
        expire = ttl > 0
        if opts["priority"]:
            storage_class = PriorityRedisExpireStorage if expire else PriorityRedisStorage
        else:
            storage_class = RedisExpireStorage if expire else RedisStorage
        kwargs: dict[str, Any] = {
            "connection_pool": pool,
            "blocking": opts["blocking"],
            "read_timeout": opts["read_timeout"],
            **storage_extras,
        }
        if expire:
            kwargs["expire_time"] = max(int(ttl), 1)
        return storage_class, kwargs

    def _refuse_extras(self, extras: dict[str, Any], allowed: set[str], engine: str) -> None:
        for key in extras:
            if key not in allowed:
                known = sorted({*self.options_schema, *allowed})
                raise ConfigurationError(
                    f"Unknown option {key!r} for backend 'huey' ({engine})."
                    f"{suggest(key, known)} Known options: {', '.join(known)}."
                )

    def _narrow(self, storage: Any) -> None:
        """Instance flags for what this configuration cannot do (like memory's immediate mode)."""
        if isinstance(storage, MemoryStorage):
            self.supports_bulk = False  # type: ignore[misc]
        if not getattr(storage, "priority", True):
            self.supports_priority = False  # type: ignore[misc]
        if self.huey.immediate:
            # Jobs run inside enqueue: none waits beside another, or long enough to cancel,
            # and a delayed one would only run when the producer next waits for a result.
            self.supports_priority = False  # type: ignore[misc]
            self.supports_cancel = False  # type: ignore[misc]
            self.supports_delay = False  # type: ignore[misc]
        if not self._tracks_state:
            self.supports_results = False  # type: ignore[misc]
            self.supports_cancel = False  # type: ignore[misc]

    def _side_storage(self, name: str) -> Any:
        """Another huey storage like the main one, for records that must not mix with jobs."""
        if isinstance(self.huey.storage, SqliteStorage):
            return SqliteStorage(name, **self._storage_kwargs)
        return MemoryStorage(name)

    @functools.cached_property
    def where(self) -> str:
        """The storage, for messages: its URL without the password, or the SQLite file."""
        if self.url:
            return redact(self.url)
        if self.storage_kind == "sqlite":
            return f"sqlite:///{self.options['filename']}"
        if self._pool is not None:
            kw = self._pool.connection_kwargs
            return f"redis://{kw.get('host', 'localhost')}:{kw.get('port', 6379)}/{kw.get('db', 0)}"
        return "memory://"

    def _errors(self, action: str) -> _StorageErrors:
        """Turn a storage failure into a HueyConnectionError naming the redacted URL."""
        return _StorageErrors(HueyConnectionError, action, self.where)

    # -- jobs -----------------------------------------------------------------------------------

    def register_job(self, name: str, func: Any, *args: Any, **options: Any) -> None:
        """Register ``func`` and a huey task of the same name that runs it through the runtime."""
        if name == REFUSED:
            raise ConfigurationError(f"{REFUSED!r} is reserved by the huey backend.")
        super().register_job(name, func, *args, **options)
        spec = self.jobs[name]
        if args or spec.backend_options:
            del self.jobs[name]
            extra = ", ".join([*map(repr, args), *spec.backend_options])
            raise ConfigurationError(
                f"The huey backend takes no engine options for job {name!r} (got {extra}); the "
                f"portable ones are queue, priority, delay, timeout, retries, backoff, retry_on, "
                f"discard_on and unique."
            )
        if name not in self._tasks:
            self._tasks[name] = self.huey.task(name=name, context=True)(self._runner())

    def _runner(self) -> Any:
        def run(payload: Any, task: Any = None) -> None:
            self._execute(payload)

        # huey names a task <func.__module__>.<name>: "queuekit.<job name>".
        run.__module__ = TASK_MODULE
        return run

    # -- producer -------------------------------------------------------------------------------

    def _message(self, envelope: Envelope) -> bytes:
        """The envelope as the JSON huey message a worker will receive."""
        options = envelope.options
        eta = options.get("eta")
        due = None if eta is None or eta <= time.time() else _naive(eta, self.huey.utc)
        message = envelope_message(envelope.to_dict(), due, options.get("priority"))
        data: bytes = self.huey.serializer.serialize_plain(message)
        limit = self.codec.max_bytes
        if limit and (len(data) > limit or self.options["compression"]):
            envelope.encode()  # raises InvalidArguments when the envelope is over max_payload_bytes
        return data

    @contextlib.contextmanager
    def _batch(self, size: int) -> Iterator[Any]:
        """huey's storage, or a copy of it whose writes form one batch: on Redis one pipeline
        (MULTI/EXEC around several writes), on SQLite one transaction. The copy runs huey's own
        storage code; only where its commands go changes."""
        storage = self.huey.storage
        if self._on_redis:
            batch = copy.copy(storage)
            with storage.conn.pipeline(transaction=size > 1) as pipe:
                batch.conn = pipe
                yield batch
                pipe.execute()
        elif isinstance(storage, SqliteStorage):
            local = self._local
            kept = getattr(local, "sqlite_batch", None)
            if kept is None or kept[1]:
                kept = local.sqlite_batch = self._sqlite_batch(storage)
            batch, cursors = kept
            with storage.db(commit=True) as cursor:
                cursors.append(cursor)
                try:
                    yield batch
                finally:
                    cursors.clear()
        else:
            yield storage

    @staticmethod
    def _sqlite_batch(storage: Any) -> tuple[Any, list[Any]]:
        """A copy of huey's SQLite storage whose statements go to the cursor of the open
        transaction (the list's one item), kept per thread: huey's storage code writes, and
        ``delete_data`` deletes a key in one statement (huey's reads the value first)."""
        batch = copy.copy(storage)
        cursors: list[Any] = []
        name = storage.name

        def sql(query: str, params: Any = None, commit: bool = False, results: bool = False) -> Any:
            cursor = cursors[0]
            cursor.execute(query, params or ())
            return cursor.fetchall() if results else None

        @contextlib.contextmanager
        def db(commit: bool = False, close: bool = False) -> Iterator[Any]:
            yield cursors[0]  # pop_data and friends: inside this transaction too

        def delete_data(key: str) -> bool:
            cursor = cursors[0]
            cursor.execute("delete from kv where queue = ? and key = ?", (name, key))
            return bool(cursor.rowcount == 1)

        def put_if_empty(key: str, value: bytes, ttl: Any = None) -> bool:
            # huey's statement, on the open cursor without a context manager around it.
            if ttl is not None:
                raise NotImplementedError("ttl is not supported by this storage.")
            try:
                cursors[0].execute(_CLAIM_SQL, (name, key, value))
            except sqlite3.IntegrityError:
                return False  # only this statement is undone; the transaction goes on
            return True

        def put_data(key: str, value: bytes, is_result: bool = False) -> None:
            cursors[0].execute(_PUT_SQL, (name, key, value))  # huey's statement

        batch.sql, batch.db, batch.delete_data = sql, db, delete_data
        batch.put_if_empty, batch.put_data = put_if_empty, put_data
        if sqlite3.sqlite_version_info >= (3, 35):  # DELETE ... RETURNING

            def dequeue() -> Any:
                # The row huey's dequeue takes (the first by priority, then id), which it
                # takes with three statements: a look, a select and a delete.
                cursor = cursors[0]
                cursor.execute(_TAKE_SQL, (name,))
                rows = cursor.fetchall()
                return rows[0][0] if rows else None

            batch.dequeue = dequeue
        return batch, cursors

    def _recording(self) -> Any:
        """This thread's copy of huey's Redis storage whose client only records commands: huey's
        own storage code builds each write (keys, the priority queue's member format, expiry)
        and ``send_commands`` sends them all in one round trip, without a pipeline's cost."""
        storage = getattr(self._local, "recording", None)
        if storage is None:
            storage = copy.copy(self.huey.storage)
            storage.conn = _Recorder()
            self._local.recording = storage
        storage.conn.commands = []
        return storage

    def _send(self, envelope: Envelope) -> None:
        self._send_many([envelope])

    def _send_many(self, envelopes: list[Envelope], *, record: bool = True) -> None:
        messages = [self._message(envelope) for envelope in envelopes]
        state = record and self._tracks_state
        with self._errors("enqueue"):
            if self.huey.immediate:
                for envelope, data in zip(envelopes, messages, strict=True):
                    if state:
                        self.huey.storage.put_data(envelope.id, data, is_result=True)
                    self.huey.enqueue(self.huey.deserialize_task(data))
                return
            if self._records_commands:
                storage = self._recording()
                self._put(storage, envelopes, messages, state)
                send_commands(self._pool, storage.conn.commands, transaction=len(envelopes) > 1)
                return
            if len(envelopes) == 1 and not (state and self._records_waiting(envelopes[0])):
                # One write: huey's storage as it is.
                self._put(self.huey.storage, envelopes, messages, state)
                return
            with self._batch(len(envelopes)) as storage:
                self._put(storage, envelopes, messages, state)

    def _put(
        self, storage: Any, envelopes: list[Envelope], messages: list[bytes], state: bool
    ) -> None:
        """Each job's message and (with ``state``) its waiting state, written through
        ``storage``. The waiting state is the message itself, under the job id: nothing more
        to build or encode, and ``_read`` tells queued from scheduled by its eta."""
        for envelope, data in zip(envelopes, messages, strict=True):
            if state and (not self._lean_waiting or self._records_waiting(envelope)):
                storage.put_data(envelope.id, data, is_result=True)
            eta = envelope.options.get("eta")
            if eta is not None and eta > time.time():
                storage.add_to_schedule(data, _naive(eta, self.huey.utc))
            else:
                storage.enqueue(data, envelope.options.get("priority"))

    def _records_waiting(self, envelope: Envelope) -> bool:
        """Whether a job's waiting state is written beside its message. On SQLite a first
        attempt due now has none (``_read`` finds its message); a delayed job has one (huey's
        scheduler moves its message in two transactions) and so has a later attempt (its id
        has a record from before, which the waiting state must replace)."""
        if not self._lean_waiting or envelope.attempt != 1:
            return True
        eta = envelope.options.get("eta")
        return eta is not None and eta > time.time()

    def _encode(self, record: dict[str, Any]) -> bytes:
        # A record without a return value holds only plain JSON queuekit wrote itself; a return
        # value goes through the serializer's tagging walk, as every other value huey stores.
        serializer = self.huey.serializer
        if record.get("return_value") is None:
            return bytes(serializer.serialize_plain(record))
        return bytes(serializer.serialize(record))

    def _write(self, record: dict[str, Any], release: str | None = None) -> None:
        """Store a job's state record; with ``release``, delete that claim marker in the same
        round trip (Redis) or transaction (SQLite)."""
        data = self._encode(record)
        if self._records_commands:
            storage = self._recording()
            storage.put_data(record["id"], data, is_result=True)
            if release is not None:
                storage.delete_data(release)
            send_commands(self._pool, storage.conn.commands)
            return
        if release is None:
            self.huey.storage.put_data(record["id"], data, is_result=True)
            return
        with self._batch(2) as storage:  # one SQLite transaction
            storage.put_data(record["id"], data, is_result=True)
            storage.delete_data(release)

    def _result_after_send(self, envelope: Envelope) -> JobResult:
        if self.huey.immediate and self._tracks_state:
            return self._get_result(envelope.id)
        return self._sent_result(envelope)

    # -- state ----------------------------------------------------------------------------------

    def _read(self, job_id: str) -> dict[str, Any] | None:
        """A job's state record: the stored one, the waiting state its message stands for, or,
        while a worker runs it, the running state the worker's claim holds."""
        claims: dict[str, Any] | None = None
        with self._errors(f"read the state of job {job_id}"):
            if self._lean_waiting:
                raw, claims = self._sqlite_state(job_id)
            else:
                raw = self.huey.storage.peek_data(job_id)
        if raw is EmptyData:
            if claims:  # taken by a worker from the task table: the running state its claim holds
                claim = claims.get(self._claim_key(job_id, 1), EmptyData)
                running = None if claim is EmptyData else self.huey.serializer.deserialize(claim)
                if isinstance(running, dict) and running.get("status") == "running":
                    return running
            return None
        data = raw if isinstance(raw, Message) else self.huey.serializer.deserialize(raw)
        if isinstance(data, Message):
            data = _waiting(data)
        if isinstance(data, dict) and "status" in data:
            if data["status"] in ("queued", "scheduled"):
                key = self._claim_key(job_id, data.get("pending_attempt", 1))
                if claims is not None:
                    claim = claims.get(key, EmptyData)
                else:
                    with self._errors(f"read the state of job {job_id}"):
                        claim = self.huey.storage.peek_data(key)
                running = None if claim is EmptyData else self.huey.serializer.deserialize(claim)
                if isinstance(running, dict) and running.get("status") == "running":
                    return {**data, **running}
            return data
        # Not ours: huey stored an error because the task itself broke (say, storage down).
        metadata = getattr(data, "metadata", None) or {}
        return {
            "id": job_id,
            "status": "failed",
            "error": {
                "type": "huey.TaskError",
                "message": str(metadata.get("error", data)),
                "traceback": str(metadata.get("traceback", "")),
            },
        }

    def _sqlite_state(self, job_id: str) -> tuple[Any, dict[str, Any]]:
        """(the job's record, or its message while it waits in huey's task table, or EmptyData;
        its claim markers by key), read in one SQLite transaction: one snapshot, in which a
        worker's take of the message and its claim are one change."""
        storage = self.huey.storage
        name = storage.name
        prefix = self._claim_key(job_id, 0)[:-1]
        raw: Any = EmptyData
        with storage.db() as cursor:
            cursor.execute("begin")
            try:
                cursor.execute("select value from kv where queue = ? and key = ?", (name, job_id))
                row = cursor.fetchone()
                if row is None:
                    # No index finds a message by job id: the waiting jobs' messages are read
                    # (the id is a random token; a hit in another job's arguments is skipped).
                    cursor.execute(
                        "select data from task where queue = ? and instr(data, ?) > 0",
                        (name, job_id.encode()),
                    )
                    for (data,) in cursor.fetchall():
                        message = self.huey.serializer.deserialize(data)
                        payload = _payload(message)
                        if payload is not None and payload.get("id") == job_id:
                            raw = message
                            break
                else:
                    raw = row[0]
                # Claim keys are "<prefix><attempt>": every key from "<prefix>" up to the next
                # character after its final dot.
                cursor.execute(
                    "select key, value from kv where queue = ? and key >= ? and key < ?",
                    (name, prefix, prefix[:-1] + "/"),
                )
                claims = dict(cursor.fetchall())
            finally:
                cursor.execute("commit")
        return raw, claims

    def _get_result(self, job_id: str) -> JobResult:
        data = self._read(job_id)
        if data is None:
            raise ResultUnavailable(
                f"No result for job {job_id!r} in huey queue {self.options['name']!r} at "
                f"{self.where}: it was never enqueued here, or its state expired "
                f"(result_ttl={self.options['result_ttl']:g} s)."
            )
        return result_from_dict(data, self, self.default_queue)

    def wait_for_change(self, result: JobResult, timeout: float) -> JobResult:
        if self.huey.immediate:
            self._run_due()
        return super().wait_for_change(result, timeout)

    def _run_due(self) -> None:
        """Immediate mode: run scheduled jobs (retries) whose time has come, in this thread."""
        for task in self.huey.read_schedule():
            self.huey.execute(task)

    def _claim_key(self, job_id: str, attempt: int) -> str:
        return f"queuekit.claim.{job_id}.{attempt}"

    def _claim(self, job_id: str, attempt: int, by: str | dict[str, Any]) -> bool:
        """Atomically take attempt ``attempt`` of a job: for a worker to run (``by`` is then the
        running state, which ``_read`` shows), or to cancel it."""
        ttl = max(int(self.options["result_ttl"]), 1) if self._claims_expire else None
        key = self._claim_key(job_id, attempt)
        serializer = self.huey.serializer
        value = serializer.serialize_plain(by) if isinstance(by, dict) else serializer.serialize(by)
        if self._records_commands:
            storage = self._recording()
            storage.put_if_empty(key, value, ttl)
            return bool(send_commands(self._sender(), storage.conn.commands)[0])
        return bool(self.huey.storage.put_if_empty(key, value, ttl))

    def _cancel(self, job_id: str) -> bool:
        data = self._read(job_id)
        if data is None or data["status"] not in ("queued", "scheduled"):
            return False
        with self._errors(f"cancel job {job_id}"):
            if not self._claim(job_id, int(data.get("pending_attempt", 1)), "canceled"):
                return False  # a worker took it first
            data.update(status="canceled", finished_at=time.time())
            self._write(data)
        if data.get("unique_key"):
            self.locks.release(data["unique_key"], job_id)  # type: ignore[union-attr]
        return True

    def count(self, queue: str | None = None) -> int:
        """Jobs waiting: queued plus scheduled (delayed jobs and retries)."""
        if queue not in (None, self.default_queue):
            self._require("named_queues", f"count({queue!r})")
        with self._errors("count waiting jobs"):
            return int(self.huey.pending_count()) + int(self.huey.scheduled_count())

    # -- worker side ----------------------------------------------------------------------------

    def _running(self, payload: Any) -> tuple[str, int, dict[str, Any]] | None:
        """(job id, attempt, running state) of a message a worker took, when its state is
        tracked: the claim a worker takes before it runs the job holds that state."""
        if self._tracks_state and isinstance(payload, dict) and payload.get("job") in self.jobs:
            job_id, attempt = payload.get("id"), payload.get("attempt", 1)
            if isinstance(job_id, str) and type(attempt) is int:
                return (
                    job_id,
                    attempt,
                    {
                        "id": job_id,
                        "job_name": str(payload["job"]),
                        "status": "running",
                        "queue": str(payload.get("queue", self.default_queue)),
                        "enqueued_at": payload.get("enqueued_at"),
                        "started_at": time.time(),
                        "attempts": attempt,
                    },
                )
        return None

    def _execute(self, payload: Any) -> None:
        """The body of every huey task: claim the attempt (the claim holds the running state;
        on SQLite the worker's dequeue took it already), run the runtime; ``_record`` then
        writes the outcome."""
        local = self._local
        local.claim = None
        taken, local.taken = getattr(local, "taken", None), None
        claimed: tuple[str, str, bool] | None = None  # (job id, claim key, whether it won)
        if taken is not None and taken[0] is payload:
            claimed = taken[1:]  # the cancel's marker, if it won, went in that transaction
        else:
            running = self._running(payload)
            if running is not None:
                job_id, attempt, state = running
                key = self._claim_key(job_id, attempt)
                won = self._claim(job_id, attempt, state)
                if not won and not self._claims_expire:
                    self.huey.storage.delete_data(key)  # the cancel's marker; no one takes it now
                claimed = (job_id, key, won)
        if claimed is not None:
            job_id, key, won = claimed
            if not won:
                logger.info("job %s was canceled before it started; not running it", job_id)
                return
            # Markers that do not expire go with the outcome's record (see _record).
            local.claim = None if self._claims_expire else key
        try:
            self.process(payload)
        finally:
            leftover, local.claim = local.claim, None
            if leftover is not None:
                self.huey.storage.delete_data(leftover)

    def _record(self, outcome: Outcome) -> None:
        if not self._tracks_state or not outcome.job_id:
            return
        record = outcome_to_dict(outcome)
        envelope = outcome.envelope
        if outcome.retry_in is not None and envelope is not None:
            record["status"] = "scheduled" if outcome.retry_in > 0 else "queued"
            record["pending_attempt"] = envelope.attempt + 1  # the attempt a cancel() must claim
        unique = envelope.options.get("unique_key") if envelope else None
        if unique is not None:
            record["unique_key"] = unique
        local = self._local
        release = getattr(local, "claim", None)
        local.claim = None
        if outcome.succeeded and getattr(local, "dequeues", False):
            # A worker thread, whose next step is its next dequeue: the record goes with it
            # (see _dequeue and _dequeue_sqlite), so the job costs one round trip or SQLite
            # transaction fewer. Only a final success waits: a retry's record must precede its
            # next attempt, and a failure goes to the failed store at once.
            deferred = local.deferred = getattr(local, "deferred", None) or []
            deferred.append((record["id"], self._encode(record)))
            if release is not None:
                deferred.append((release, None))
            return
        self._write(record, release)

    def _dequeue(self, dequeue: Callable[[], Any]) -> Any:
        """huey's dequeue in a worker thread on blocking Redis, with the writes the previous
        job left sent first in the same round trip: Redis runs them as they arrive, before the
        pop blocks. huey's storage code builds the writes and the blocking pop, and reads the
        message out of the reply."""
        local = self._local
        local.dequeues = True
        writes = getattr(local, "deferred", None) or []
        local.deferred = None
        storage = self._recording()
        self._replay(storage, writes)
        count = len(storage.conn.commands)
        storage.dequeue()  # records the pop; its own result (nothing) is not used
        try:
            replies = send_commands(self._sender(), storage.conn.commands, raise_errors=False)
        except BaseException:
            local.deferred = writes  # whether they were written is unknown: sent again next time
            raise
        failed = [r for r in replies[:count] if isinstance(r, redis.exceptions.ResponseError)]
        if failed:  # the popped message is still this worker's to run
            logger.error(
                "could not store the outcome of job(s) %s: %s",
                ", ".join(key for key, value in writes if value is not None),
                failed[0],
            )
        reply = replies[-1]
        if isinstance(reply, redis.exceptions.ResponseError):
            raise reply
        replaying = getattr(local, "replaying", None)
        if replaying is None:
            replaying = local.replaying = copy.copy(self.huey.storage)
        replaying.conn = _Reply(reply)
        data = replaying.dequeue()
        return self.huey.deserialize_task(data) if data is not None else None

    def _dequeue_sqlite(self, dequeue: Callable[[], Any]) -> Any:
        """huey's dequeue in a worker thread on SQLite, in one transaction with the writes the
        previous job left and the claim of the job it takes (huey's storage code does every
        write). An idle poll takes no write lock, as huey's own does not."""
        local = self._local
        local.dequeues = True
        local.taken = None
        writes = getattr(local, "deferred", None)
        storage = self.huey.storage
        if not writes and not storage.sql(
            "select 1 from task where queue = ? limit 1", (storage.name,), results=True
        ):
            return None
        local.deferred = None
        task = None
        try:
            with self._batch(2) as batch:
                self._replay(batch, writes or ())
                data = batch.dequeue()
                if data is not None:
                    task = self.huey.deserialize_task(data)
                    local.taken = self._take(batch, task)
        except BaseException:
            local.deferred = writes  # rolled back: written with the next dequeue or at the end
            local.taken = None
            raise
        return task

    def _take(self, storage: Any, task: Any) -> tuple[Any, str, str, bool] | None:
        """Claim a job a worker just took from SQLite, through ``storage`` (the dequeue's
        transaction): (its envelope, job id, claim key, whether this worker won it). None when
        huey will not run the task now, or queuekit tracks no state for it: ``_execute`` then
        claims as usual."""
        payload = _payload(task)
        running = self._running(payload)
        huey = self.huey
        if running is None or huey._pre_execute or task.expires_resolved:
            return None
        if task.eta is not None and task.eta > huey._get_timestamp():
            return None  # huey puts it back on its schedule
        job_id, attempt, state = running
        key = self._claim_key(job_id, attempt)
        if storage.put_if_empty(key, huey.serializer.serialize_plain(state)):
            return payload, job_id, key, True
        storage.delete_data(key)  # the cancel's marker; no one else takes it now
        return payload, job_id, key, False

    def _sender(self) -> Any:
        """Where this thread's commands go: a worker thread's own connection, else the pool."""
        local = self._local
        if not getattr(local, "dequeues", False):
            return self._pool
        pinned = getattr(local, "pinned", None)
        if pinned is None or pinned.pid != os.getpid():
            pinned = local.pinned = _Pinned(self._pool)
        return pinned

    def _replay(self, storage: Any, writes: Sequence[tuple[str, bytes | None]]) -> None:
        """Deferred writes, through ``storage``: a record to put, or (None) a key to delete."""
        for key, value in writes:
            if value is None:
                storage.delete_data(key)
            else:
                storage.put_data(key, value, is_result=True)

    def _write_deferred(self) -> None:
        """A worker thread stops: write what its last job left; give its connection back."""
        local = self._local
        writes = getattr(local, "deferred", None)
        local.deferred = None
        try:
            if writes:
                with self._errors("store the outcome of the last job"):
                    if self._records_commands:
                        storage = self._recording()
                        self._replay(storage, writes)
                        send_commands(self._sender(), storage.conn.commands)
                    else:
                        with self._batch(2) as batch:
                            self._replay(batch, writes)
        finally:
            pinned, local.pinned = getattr(local, "pinned", None), None
            local.dequeues = False
            if pinned is not None and pinned.pid == os.getpid():
                pinned.close()

    def _retry(self, envelope: Envelope, delay: float) -> None:
        """The next attempt, as a new message on huey's schedule (or queue, without delay);
        the state record was written by ``_record`` and keeps the last error."""
        options = {k: v for k, v in envelope.options.items() if k != "eta"}
        if delay > 0:
            options["eta"] = time.time() + delay
        self._send_many(
            [replace(envelope, attempt=envelope.attempt + 1, options=options)], record=False
        )

    def _on_interrupted(self, signal_name: str, task: Any) -> None:
        """The consumer stopped without waiting while this job ran: record it as failed."""
        payload = task.args[0] if task.args else None
        try:
            envelope = Envelope.decode(payload) if isinstance(payload, dict) else None
        except QueueError:
            envelope = None
        if envelope is None or envelope.job not in self.jobs:
            return
        now = time.time()
        error = WorkerInterrupted(
            f"the worker stopped without waiting while job {envelope.job!r} ({envelope.id}) "
            f"ran, so it did not finish; queue.failed.retry({envelope.id!r}) runs it again. "
            f"Stop workers with SIGTERM or SIGINT (graceful_signal=BOTH, the default) to let "
            f"jobs finish."
        )
        info = ErrorInfo(f"{__name__}.WorkerInterrupted", str(error))
        outcome = Outcome(JobStatus.FAILED, envelope, envelope.id, None, info, now, now)
        logger.error("job %s (%s): %s", envelope.id, envelope.job, error)
        self._record(outcome)
        if self.failed_store is not None:
            self.failed_store.add(FailedJob.from_outcome(outcome))
        key = envelope.options.get("unique_key")
        if key and self.locks is not None:
            self.locks.release(key, envelope.id)

    # -- the consumer ---------------------------------------------------------------------------

    def create_consumer(self, workers: int | None = None) -> Any:
        """huey's Consumer for this queue, configured from the consumer options."""
        opts = self.options
        interval = opts["scheduler_interval"]
        if not 0.05 <= interval <= 60:
            raise ConfigurationError(
                f"scheduler_interval={interval:g} must be between 0.05 and 60 seconds."
            )
        return _Consumer(
            self.huey,
            workers=workers or opts["workers"],
            periodic=False,  # queuekit registers no huey periodic tasks
            initial_delay=opts["initial_delay"],
            backoff=opts["poll_backoff"],
            max_delay=opts["max_delay"],
            scheduler_interval=opts["scheduler_interval"],
            worker_type=opts["worker_type"],
            check_worker_health=opts["check_worker_health"],
            health_check_interval=opts["health_check_interval"],
            max_tasks=opts["max_tasks"],
            shutdown_timeout=opts["shutdown_timeout"],
            graceful_signal=opts["graceful_signal"],
        )

    @contextlib.contextmanager
    def consumer(self, workers: int | None = None) -> Iterator[Any]:
        """Run huey's consumer on threads of this process for the block, without touching
        signal handlers (for MemoryHuey and tests); it stops gracefully at the end."""
        if self.options["worker_type"] != "thread":
            raise ConfigurationError("An in-process consumer runs threads: worker_type='thread'.")
        consumer = self.create_consumer(workers)
        consumer.scheduler.start()
        for _, thread in consumer.worker_threads:
            thread.start()
        try:
            yield consumer
        finally:
            consumer.stop(graceful=True)

    def run_worker(
        self,
        *,
        queues: Sequence[str] | None = None,
        concurrency: int | None = None,
        burst: bool = False,
    ) -> None:
        """Run huey's Consumer in this process until it is signalled (or, with ``burst``,
        until nothing is due). SIGINT and SIGTERM both stop gracefully (``graceful_signal=INT``
        or ``TERM`` restores huey's pair, where the other stops at once); SIGHUP restarts."""
        for name in queues or ():
            if name != self.default_queue:
                self._require("named_queues", f"a worker for queue {name!r}")
        if self.huey.immediate or self.storage_kind == "memory":
            raise UnsupportedCapability(
                "This huey queue keeps jobs in the enqueueing process (memory:// or "
                "immediate=true), so a separate worker would never see them; use redis:// or "
                "sqlite:///path, or queue.consumer() inside the process."
            )
        consumer = self.create_consumer(concurrency)
        previous = {
            sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        }
        if consumer.environment.forks:
            self.huey.storage.close()  # children must not share the parent's SQLite handle
            if self._failed_storage is not None:
                self._failed_storage.close()
        logger.info("queuekit worker on %r: huey consumer for %r", self, self.options["name"])
        try:
            consumer.start()
            health = time.monotonic()
            idle = 0
            while True:
                try:
                    health = consumer.loop(health)
                except ConsumerStopped:
                    break
                if burst:
                    idle = idle + 1 if self._idle() else 0
                    if idle >= 3:  # three quiet looks 0.1 s apart: no job is in anyone's hands
                        logger.info("queuekit worker (burst): no job is due; stopping")
                        consumer.stop(graceful=True)
                        break
            self.huey.notify_interrupted_tasks()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if consumer._restart:
            self._restart()
        logger.info("queuekit worker stopped")

    def _idle(self) -> bool:
        if self.huey._tasks_in_flight or self.huey.pending_count():
            return False
        now = self.huey._get_timestamp()
        return not any(task.eta is None or task.eta <= now for task in self.huey.scheduled())

    def _restart(self) -> None:
        """SIGHUP: huey re-executes its consumer; do the same for ``queuekit worker``."""
        main = sys.modules.get("__main__")
        spec = getattr(main, "__spec__", None)
        if spec is not None and spec.name == "queuekit.__main__":
            argv = [sys.executable, "-m", "queuekit", *sys.argv[1:]]
        elif os.path.basename(sys.argv[0]) == "queuekit":
            argv = [sys.executable, *sys.argv]
        else:
            logger.warning(
                "queuekit worker: SIGHUP asked for a restart, but this process was "
                "not started as `queuekit worker`; exiting instead"
            )
            return
        logger.info("queuekit worker restarting (SIGHUP)")
        logging.shutdown()
        os.execv(sys.executable, argv)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.huey.storage.close()
        if self._failed_storage is not None:
            with contextlib.suppress(Exception):
                self._failed_storage.close()
        if self._pool is not None:
            self._pool.disconnect()


class _GuardedFailedStore(FailedStore):
    """A failed store whose storage errors become HueyConnectionError."""

    def __init__(self, queue: HueyQueue, inner: FailedStore) -> None:
        self.queue, self.inner = queue, inner

    def add(self, record: FailedJob) -> None:
        with self.queue._errors(f"keep failed job {record.id}"):
            self.inner.add(record)

    def list(self, limit: int | None = None) -> list[FailedJob]:
        with self.queue._errors("list failed jobs"):
            return self.inner.list(limit)

    def get(self, job_id: str) -> FailedJob | None:
        with self.queue._errors(f"read failed job {job_id}"):
            return self.inner.get(job_id)

    def remove(self, job_id: str) -> bool:
        with self.queue._errors(f"remove failed job {job_id}"):
            return self.inner.remove(job_id)

    def purge(self) -> int:
        with self.queue._errors("purge failed jobs"):
            return self.inner.purge()


class _GuardedLocks(LockStore):
    """Uniqueness locks whose storage errors become HueyConnectionError."""

    def __init__(self, queue: HueyQueue, inner: LockStore) -> None:
        self.queue, self.inner = queue, inner

    def claim(self, key: str, job_id: str, ttl: float) -> str | None:
        with self.queue._errors(f"claim the uniqueness lock of job {job_id}"):
            return self.inner.claim(key, job_id, ttl)

    def release(self, key: str, job_id: str) -> None:
        with self.queue._errors(f"release the uniqueness lock of job {job_id}"):
            self.inner.release(key, job_id)


__all__ = ["HueyConnectionError", "HueyQueue", "WorkerInterrupted"]
