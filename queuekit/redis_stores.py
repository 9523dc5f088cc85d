"""Failed-job store, uniqueness locks and a result store on Redis, for backends that use Redis.

Imported only by backends that depend on redis-py (``import queuekit`` never imports it).
Every key starts with ``prefix`` so a test or an operator can find and delete exactly them.
"""

from __future__ import annotations

import json
import time
from typing import Any

from .exceptions import ResultUnavailable
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
        self._write(result.id, _result_to_dict(result), pipe)

    def record(self, outcome: Outcome) -> None:
        if outcome.job_id:
            self._write(outcome.job_id, _result_to_dict(outcome.to_result()))

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
        return _result_from_dict(json.loads(raw), backend)


def _ts(value: Any) -> float | None:
    return value.timestamp() if value is not None else None


def _result_to_dict(result: JobResult) -> dict[str, Any]:
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


def _result_from_dict(data: dict[str, Any], backend: Any) -> JobResult:
    from datetime import datetime, timezone

    def dt(key: str) -> datetime | None:
        value = data.get(key)
        return datetime.fromtimestamp(value, timezone.utc) if value else None

    return JobResult(
        id=data["id"],
        job_name=data.get("job_name", ""),
        status=JobStatus(data["status"]),
        queue=data.get("queue", "default"),
        return_value=data.get("return_value"),
        error=ErrorInfo.from_dict(data["error"]) if data.get("error") else None,
        enqueued_at=dt("enqueued_at"),
        started_at=dt("started_at"),
        finished_at=dt("finished_at"),
        attempts=int(data.get("attempts", 0)),
        backend=backend,
    )
