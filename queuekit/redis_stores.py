"""Failed-job store, uniqueness locks and a result store on Redis, for backends that use Redis,
plus what those backends share: job state as JSON, Redis errors as queuekit errors, and several
commands sent in one round trip.

Imported only by backends that depend on redis-py (``import queuekit`` never imports it).
Every key starts with ``prefix`` so a test or an operator can find and delete exactly them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from types import TracebackType
from typing import Any

import redis.exceptions

from .exceptions import ResultUnavailable
from .redact import redact
from .results import ErrorInfo, JobResult, JobStatus
from .runtime import Outcome
from .stores import FailedJob, FailedStore, LockStore

# Release a lock only if the caller still holds it (compare-and-delete in one step).
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class RedisFailedStore(FailedStore):
    """Failed jobs in a hash (id -> JSON record) plus a sorted set ordered by failure time."""

    def __init__(self, client: Any, prefix: str = "queuekit", limit: int = 100_000) -> None:
        self.client = client
        self.records = f"{prefix}:failed"
        self.order = f"{prefix}:failed:order"
        self.limit = limit

    def add(self, record: FailedJob) -> None:
        with self.client.pipeline() as pipe:
            pipe.hset(self.records, record.id, json.dumps(record.to_dict()))
            pipe.zadd(self.order, {record.id: record.failed_at})
            pipe.execute()
        if self.client.zcard(self.order) > self.limit:
            oldest = self.client.zrange(self.order, 0, -self.limit - 1)
            if oldest:
                self.client.hdel(self.records, *oldest)
                self.client.zrem(self.order, *oldest)

    def list(self, limit: int | None = None) -> list[FailedJob]:
        ids = self.client.zrevrange(self.order, 0, -1 if limit is None else limit - 1)
        if not ids:
            return []
        raw = self.client.hmget(self.records, ids)
        return [FailedJob.from_dict(json.loads(item)) for item in raw if item is not None]

    def get(self, job_id: str) -> FailedJob | None:
        raw = self.client.hget(self.records, job_id)
        return FailedJob.from_dict(json.loads(raw)) if raw is not None else None

    def remove(self, job_id: str) -> bool:
        with self.client.pipeline() as pipe:
            pipe.hdel(self.records, job_id)
            pipe.zrem(self.order, job_id)
            removed, _ = pipe.execute()
        return bool(removed)

    def purge(self) -> int:
        with self.client.pipeline() as pipe:
            pipe.hlen(self.records)
            pipe.delete(self.records, self.order)
            count, _ = pipe.execute()
        return int(count)


class RedisLocks(LockStore):
    """One key per lock: ``SET key job_id NX PX ttl``; released only by its holder."""

    def __init__(self, client: Any, prefix: str = "queuekit") -> None:
        self.client = client
        self.prefix = f"{prefix}:unique:"
        self._release = client.register_script(_RELEASE)

    def claim(self, key: str, job_id: str, ttl: float) -> str | None:
        name = self.prefix + key
        if self.client.set(name, job_id, nx=True, px=max(int(ttl * 1000), 1)):
            return None
        holder = self.client.get(name)
        if holder is None:  # expired between the two calls: try once more
            return self.claim(key, job_id, ttl)
        return holder.decode() if isinstance(holder, bytes) else str(holder)

    def release(self, key: str, job_id: str) -> None:
        self._release(keys=[self.prefix + key], args=[job_id])


class RedisResultStore:
    """Job state as one JSON string per job id, expiring ``ttl`` seconds after it was written."""

    def __init__(self, client: Any, prefix: str = "queuekit", ttl: float = 7 * 24 * 3600) -> None:
        self.client = client
        self.prefix = f"{prefix}:result:"
        self.ttl = ttl

    def _write(self, job_id: str, data: dict[str, Any], pipe: Any = None) -> None:
        (pipe or self.client).set(self.prefix + job_id, json.dumps(data), ex=max(int(self.ttl), 1))

    def sent(self, result: JobResult, pipe: Any = None) -> None:
        """Record a job as queued or scheduled (pass a pipeline to batch it with the send)."""
        self._write(result.id, result_to_dict(result), pipe)

    def record(self, outcome: Outcome) -> None:
        if outcome.job_id:
            self._write(outcome.job_id, outcome_to_dict(outcome))

    def running(self, job_id: str, job_name: str, queue: str, attempt: int) -> None:
        self._write(
            job_id,
            {
                "id": job_id,
                "job_name": job_name,
                "status": "running",
                "queue": queue,
                "started_at": time.time(),
                "attempts": attempt,
            },
        )

    def get(self, job_id: str, backend: Any = None) -> JobResult:
        raw = self.client.get(self.prefix + job_id)
        if raw is None:
            raise ResultUnavailable(
                f"No result for job {job_id!r}: it was never enqueued here, or its result "
                f"expired (result_ttl={self.ttl:g} s)."
            )
        return result_from_dict(json.loads(raw), backend)


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _dt(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value, timezone.utc) if value else None


def result_to_dict(result: JobResult) -> dict[str, Any]:
    """A job's state as a JSON object: status by value, the error as a dict, times as epoch
    seconds; :func:`result_from_dict` reads it back."""
    return {
        "id": result.id,
        "job_name": result.job_name,
        "status": result.status.value,
        "queue": result.queue,
        "return_value": result.return_value,
        "error": result.error.to_dict() if result.error else None,
        "enqueued_at": _ts(result.enqueued_at),
        "started_at": _ts(result.started_at),
        "finished_at": _ts(result.finished_at),
        "attempts": result.attempts,
    }


def outcome_to_dict(outcome: Outcome) -> dict[str, Any]:
    """What :func:`result_to_dict` makes of ``outcome.to_result()``, built directly: a worker
    writes one per job, and the datetimes of a JobResult would only be turned back into the
    epoch seconds the outcome holds (read back, both give the same microseconds)."""
    envelope = outcome.envelope
    error = outcome.error
    return {
        "id": outcome.job_id or "",
        "job_name": envelope.job if envelope else "",
        "status": outcome.status.value,
        "queue": envelope.queue if envelope else "",
        "return_value": outcome.return_value,
        "error": error.to_dict() if error else None,
        "enqueued_at": envelope.enqueued_at if envelope else None,
        "started_at": outcome.started_at or None,
        "finished_at": outcome.finished_at or None,
        "attempts": envelope.attempt if envelope else 0,
    }


def result_from_dict(
    data: dict[str, Any], backend: Any = None, default_queue: str = "default"
) -> JobResult:
    """The :class:`JobResult` a :func:`result_to_dict` object describes, bound to ``backend``;
    ``default_queue`` stands in for a record that names no queue."""
    error = data.get("error")
    return JobResult(
        id=data["id"],
        job_name=data.get("job_name", ""),
        status=JobStatus(data["status"]),
        queue=data.get("queue") or default_queue,
        return_value=data.get("return_value"),
        error=ErrorInfo.from_dict(error) if error else None,
        enqueued_at=_dt(data.get("enqueued_at")),
        started_at=_dt(data.get("started_at")),
        finished_at=_dt(data.get("finished_at")),
        attempts=int(data.get("attempts", 0)),
        backend=backend,
    )


class ReachingRedis:
    """A context manager that turns redis-py's ConnectionError and TimeoutError into
    ``error`` (a queuekit error class), with a sentence naming the action, the server (password
    redacted) and the fix::

        with ReachingRedis(RedisUnavailable, "enqueue", url):
            client.lpush(key, data)

    A class rather than a generator-based context manager: it runs on every enqueue.
    """

    __slots__ = ("action", "detail", "error", "where")

    def __init__(self, error: type[Exception], action: str, where: str, detail: str = "") -> None:
        self.error, self.action, self.where, self.detail = error, action, where, detail

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
            raise self.error(
                f"Cannot {self.action}: Redis at {redact(self.where)} did not answer "
                f"({type(exc).__name__}: {redact(str(exc))}). Check that Redis runs there and "
                f"the URL is right{self.detail}."
            ) from exc


def send_commands(
    pool: Any,
    commands: Sequence[Sequence[Any]],
    *,
    transaction: bool = False,
    raise_errors: bool = True,
) -> list[Any]:
    """Send ``commands`` (each ``("SET", key, value, ...)``) to Redis in one round trip and
    return their raw replies; with ``transaction``, wrapped in MULTI/EXEC. With
    ``raise_errors=False`` error replies are returned in place instead of raised.

    A redis-py pipeline does the same at a far higher cost per call (a write of two commands
    through it takes about 1.6 times as long as one command, through this about as long), so
    the hot paths of enqueue use this. It borrows a connection from ``pool``, honours the
    connection's retry policy as redis-py does, reads every reply before raising the first
    error reply, and never leaves a half-read connection in the pool.
    """
    if transaction:
        commands = [("MULTI",), *commands, ("EXEC",)]
    packed = [_pack(commands, pool)]
    conn = pool.get_connection()
    try:
        replies: list[Any] = conn.retry.call_with_retry(
            lambda: _round_trip(conn, packed, len(commands)), lambda error: conn.disconnect()
        )
    except BaseException:
        conn.disconnect()  # a reply may be left unread on it
        raise
    finally:
        pool.release(conn)
    errors = [reply for reply in replies if isinstance(reply, redis.exceptions.ResponseError)]
    if transaction:
        executed = replies[-1]
        if not isinstance(executed, list):  # EXECABORT: a command was refused while queued
            raise errors[0] if errors else redis.exceptions.ResponseError(repr(executed))
        replies = executed
        errors = [reply for reply in replies if isinstance(reply, redis.exceptions.ResponseError)]
    if errors and raise_errors:
        raise errors[0]
    return replies


def _pack(commands: Sequence[Sequence[Any]], pool: Any) -> bytes:
    """The commands in Redis's protocol (RESP), arguments encoded as redis-py encodes them (str
    in the pool's encoding, numbers by repr, bool refused); the common types are done here,
    which costs a third of redis-py's general packer."""
    kwargs = pool.connection_kwargs
    encoding = kwargs.get("encoding", "utf-8")
    errors = kwargs.get("encoding_errors", "strict")
    parts = []
    for command in commands:
        parts.append(b"*%d\r\n" % len(command))
        for arg in command:
            kind = type(arg)
            if kind is str:
                arg = arg.encode(encoding, errors)
            elif kind is int or kind is float:
                arg = repr(arg).encode()
            elif kind is not bytes:
                if isinstance(arg, str) and not isinstance(arg, bool):  # a str enum, say
                    arg = arg.encode(encoding, errors)
                else:
                    arg = bytes(pool.get_encoder().encode(arg))
            parts.append(b"$%d\r\n%b\r\n" % (len(arg), arg))
    return b"".join(parts)


def _round_trip(conn: Any, packed: list[bytes], count: int) -> list[Any]:
    """Send, then read all ``count`` replies (error replies kept in place) so that the
    connection is left in step."""
    conn.send_packed_command(packed)
    replies: list[Any] = []
    for _ in range(count):
        try:
            replies.append(conn.read_response())
        except redis.exceptions.ResponseError as error:
            replies.append(error)
    return replies
