"""Where a backend keeps failed jobs and uniqueness locks.

A backend supplies a store on its own engine (a table, a Redis hash, ...) by subclassing
:class:`FailedStore` / :class:`LockStore`; the in-process versions here serve the memory
backend and tests. The public face is :class:`FailedJobs` (``queue.failed``).
"""

from __future__ import annotations

import builtins
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from .envelope import Envelope
from .exceptions import InvalidMessage, ResultUnavailable
from .results import ErrorInfo

if TYPE_CHECKING:
    from .base import BaseQueue
    from .runtime import Outcome

FailureReason = Literal["exhausted", "discarded", "rejected"]


@dataclass(frozen=True)
class FailedJob:
    """A job that failed for good, or a message the worker refused, kept for inspection."""

    id: str
    job_name: str | None
    queue: str | None
    reason: FailureReason
    error: ErrorInfo
    failed_at: float
    attempts: int
    #: The envelope as the worker received it (None when the message did not decode).
    envelope: dict[str, Any] | None
    #: The raw message text, kept when it did not decode.
    raw: str | None = None

    @classmethod
    def from_outcome(cls, outcome: Outcome) -> FailedJob:
        envelope = outcome.envelope
        raw = outcome.raw
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", errors="replace")
        assert outcome.error is not None
        return cls(
            id=outcome.job_id or f"refused-{time.time_ns()}",
            job_name=envelope.job if envelope else None,
            queue=envelope.queue if envelope else None,
            reason=outcome.failure or "exhausted",
            error=outcome.error,
            failed_at=outcome.finished_at or time.time(),
            attempts=envelope.attempt if envelope else 0,
            envelope=envelope.to_dict() if envelope else None,
            raw=None if envelope else (raw[:65536] if raw else None),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "job_name": self.job_name,
            "queue": self.queue,
            "reason": self.reason,
            "error": self.error.to_dict(),
            "failed_at": self.failed_at,
            "attempts": self.attempts,
            "envelope": self.envelope,
            "raw": self.raw,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FailedJob:
        return cls(
            id=data["id"],
            job_name=data.get("job_name"),
            queue=data.get("queue"),
            reason=data["reason"],
            error=ErrorInfo.from_dict(data["error"]),
            failed_at=float(data["failed_at"]),
            attempts=int(data.get("attempts", 0)),
            envelope=data.get("envelope"),
            raw=data.get("raw"),
        )


class FailedStore:
    """Storage primitives for failed jobs; a backend implements these four on its engine."""

    def add(self, record: FailedJob) -> None:
        raise NotImplementedError

    def list(self, limit: int | None = None) -> list[FailedJob]:
        """Newest first."""
        raise NotImplementedError

    def get(self, job_id: str) -> FailedJob | None:
        raise NotImplementedError

    def remove(self, job_id: str) -> bool:
        raise NotImplementedError

    def purge(self) -> int:
        raise NotImplementedError

    def close(self) -> None:
        """Release connections."""


class MemoryFailedStore(FailedStore):
    """Failed jobs in a dict of this process; the newest ``limit`` are kept."""

    def __init__(self, limit: int = 10_000) -> None:
        self._records: OrderedDict[str, FailedJob] = OrderedDict()
        self._lock = threading.Lock()
        self.limit = limit

    def add(self, record: FailedJob) -> None:
        with self._lock:
            self._records.pop(record.id, None)
            self._records[record.id] = record
            while len(self._records) > self.limit:
                self._records.popitem(last=False)

    def list(self, limit: int | None = None) -> list[FailedJob]:
        with self._lock:
            records = list(reversed(self._records.values()))
        return records[:limit] if limit is not None else records

    def get(self, job_id: str) -> FailedJob | None:
        with self._lock:
            return self._records.get(job_id)

    def remove(self, job_id: str) -> bool:
        with self._lock:
            return self._records.pop(job_id, None) is not None

    def purge(self) -> int:
        with self._lock:
            count = len(self._records)
            self._records.clear()
            return count


class FailedJobs:
    """``queue.failed``: list, show, retry and purge the jobs that failed for good."""

    def __init__(self, queue: BaseQueue, store: FailedStore) -> None:
        self.queue = queue
        self.store = store

    def list(self, limit: int | None = None) -> list[FailedJob]:
        """Failed jobs, newest first."""
        return self.store.list(limit)

    def __len__(self) -> int:
        return len(self.store.list())

    def get(self, job_id: str) -> FailedJob:
        record = self.store.get(job_id)
        if record is None:
            raise ResultUnavailable(
                f"No failed job {job_id!r} on this {self.queue.backend_name!r} queue; "
                f"`queuekit failed list` shows the ids."
            )
        return record

    def retry(self, job_id: str) -> str:
        """Enqueue a failed job's envelope again, under the same id, as its next attempt.

        The id a caller holds stays valid: its result moves from failed to queued to the new
        outcome. Returns that id.
        """
        record = self.get(job_id)
        if record.envelope is None:
            raise InvalidMessage(
                f"Failed job {job_id!r} was a message that could not be decoded ({record.error}); "
                f"there is nothing to run again. Remove it with purge()."
            )
        envelope = Envelope.from_dict(record.envelope)
        options = {k: v for k, v in envelope.options.items() if k != "eta"}
        again = replace(
            envelope, attempt=envelope.attempt + 1, options=options, codec=self.queue.codec
        )
        self.queue._send(again)
        self.store.remove(job_id)
        return again.id

    def retry_all(self) -> builtins.list[str]:
        """Retry every failed job that has an envelope; returns their ids."""
        return [self.retry(r.id) for r in self.store.list() if r.envelope is not None]

    def purge(self) -> int:
        """Forget every failed job; returns how many were removed."""
        return self.store.purge()


class LockStore:
    """Uniqueness locks: one holder (a job id) per key until released or expired."""

    def claim(self, key: str, job_id: str, ttl: float) -> str | None:
        """Take ``key`` for ``job_id``; return the current holder's id if someone has it."""
        raise NotImplementedError

    def release(self, key: str, job_id: str) -> None:
        """Give ``key`` up, if ``job_id`` still holds it."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections."""


class MemoryLocks(LockStore):
    """Locks in a dict of this process, with expiry checked on each claim."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def claim(self, key: str, job_id: str, ttl: float) -> str | None:
        now = time.monotonic()
        with self._lock:
            holder = self._held.get(key)
            if holder is not None and holder[1] > now:
                return holder[0]
            self._held[key] = (job_id, now + ttl)
            return None

    def release(self, key: str, job_id: str) -> None:
        with self._lock:
            holder = self._held.get(key)
            if holder is not None and holder[0] == job_id:
                del self._held[key]
