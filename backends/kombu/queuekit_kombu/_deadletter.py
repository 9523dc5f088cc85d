"""The dead-letter queue as queuekit's failed-job store, for installations without Redis.

The queue ``<prefix>.dead`` holds two kinds of message:

* messages the worker refused (malformed, unknown version, unregistered job): on RabbitMQ the
  worker rejects them without requeue and the broker dead-letters the original bytes (with its
  ``x-death`` header); on other transports the worker copies them there itself;
* records of jobs that failed for good, published by :meth:`DeadLetterStore.add` as JSON
  (a :class:`~queuekit.stores.FailedJob`), marked with the header ``x-queuekit-failed``.

Reading a queue is destructive in AMQP, so ``list``/``get``/``remove`` take every message
unacknowledged and put back (requeue) all but the ones removed: simple and exact for the small
numbers a failed store holds, but not atomic against a concurrent reader.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from queuekit.envelope import Envelope, peek_id
from queuekit.exceptions import InvalidMessage
from queuekit.results import ErrorInfo
from queuekit.stores import FailedJob, FailedStore

if TYPE_CHECKING:
    from .queue import KombuQueue

#: Header of a failed-job record published by the store.
FAILED_HEADER = "x-queuekit-failed"
#: Header carrying the refusal reason, when the worker (not the broker) dead-lettered a message.
REFUSED_HEADER = "x-queuekit-refused"


class DeadLetterStore(FailedStore):
    """Failed jobs and refused messages, kept as messages in the dead-letter queue."""

    def __init__(self, queue: KombuQueue) -> None:
        self.queue = queue

    def add(self, record: FailedJob) -> None:
        if record.reason == "rejected":
            return  # the refused message itself goes to the dead-letter queue
        body = json.dumps(record.to_dict(), separators=(",", ":")).encode()
        self.queue._publish_dead(body, {FAILED_HEADER: "1"})

    def _take(self, remove: Callable[[FailedJob], bool] | None) -> tuple[list[FailedJob], int]:
        """Read every dead letter; acknowledge those ``remove`` picks and requeue the rest."""
        records: list[FailedJob] = []
        removed = 0
        with self.queue._admin_channel() as channel:
            dead: Any = self.queue.topology.dead(channel)
            dead.declare()
            messages = []
            try:
                while True:
                    message = dead.get(no_ack=False)
                    if message is None:
                        break
                    messages.append(message)
                for message in messages:
                    record = self._record(message)
                    if remove is not None and remove(record):
                        message.ack()
                        removed += 1
                    else:
                        records.append(record)
            finally:
                for message in messages:
                    if not message.acknowledged:
                        message.requeue()
        records.sort(key=lambda r: r.failed_at, reverse=True)
        return records, removed

    def _record(self, message: Any) -> FailedJob:
        body = message.body
        if isinstance(body, str):
            body = body.encode()
        headers = message.headers or {}
        if headers.get(FAILED_HEADER):
            return FailedJob.from_dict(json.loads(body))
        return self._refused(body, headers)

    def _refused(self, body: bytes, headers: dict[str, Any]) -> FailedJob:
        """A refused message as a failed job; the reason is re-derived from the bytes the way
        the worker derived it (the broker cannot attach it when it dead-letters)."""
        failed_at = time.time()
        deaths = headers.get("x-death")
        if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
            when = deaths[0].get("time")
            if isinstance(when, datetime):
                failed_at = when.timestamp()
        envelope: Envelope | None = None
        try:
            envelope = Envelope.decode(body, self.queue.codec)
        except InvalidMessage as exc:
            error = ErrorInfo("InvalidMessage", str(exc))
        else:
            if envelope.job not in self.queue.jobs:
                error = ErrorInfo(
                    "UnknownJob",
                    f"job {envelope.job!r} is not registered in this worker; only registered "
                    f"jobs run (import the module that defines it in the worker's --app)",
                )
            else:
                error = ErrorInfo("InvalidMessage", "refused by the worker (see its log)")
        text = headers.get(REFUSED_HEADER)
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        if isinstance(text, str) and ": " in text:
            kind, _, message = text.partition(": ")
            error = ErrorInfo(kind, message)
        job_id = (
            envelope.id
            if envelope is not None
            else peek_id(body) or "refused-" + hashlib.sha1(body, usedforsecurity=False).hexdigest()
        )
        return FailedJob(
            id=job_id,
            job_name=envelope.job if envelope else None,
            queue=envelope.queue if envelope else None,
            reason="rejected",
            error=error,
            failed_at=failed_at,
            attempts=envelope.attempt if envelope else 0,
            envelope=envelope.to_dict() if envelope else None,
            raw=None if envelope else body.decode("utf-8", "replace")[:65536],
        )

    def list(self, limit: int | None = None) -> list[FailedJob]:
        records, _ = self._take(None)
        return records[:limit] if limit is not None else records

    def get(self, job_id: str) -> FailedJob | None:
        return next((r for r in self.list() if r.id == job_id), None)

    def remove(self, job_id: str) -> bool:
        _, removed = self._take(lambda record: record.id == job_id)
        return removed > 0

    def purge(self) -> int:
        with self.queue._admin_channel() as channel:
            dead: Any = self.queue.topology.dead(channel)
            dead.declare()
            return int(dead.purge() or 0)
