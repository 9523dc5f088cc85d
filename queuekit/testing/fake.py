"""A recording queue for application tests: nothing runs until you say so, everything is checked.

Every call goes through the same validation and the same JSON envelope as production, so an
argument that would fail on a real broker fails here too.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, ClassVar

from .. import jobs
from ..base import BaseQueue
from ..envelope import Envelope
from ..exceptions import ResultUnavailable
from ..jobs import JobCollector, _lookup, _store
from ..results import JobResult, JobStatus
from ..runtime import Outcome
from ..stores import MemoryFailedStore, MemoryLocks

_MISSING: Any = object()


class FakeQueue(BaseQueue):
    """Records envelopes; ``run_all()`` executes them in the calling thread."""

    backend_name: ClassVar[str] = "fake"

    supports_delay: ClassVar[bool] = True  # recorded; run_all() ignores the eta
    supports_priority: ClassVar[bool] = True  # recorded; run_all() runs in priority order
    supports_results: ClassVar[bool] = True  # kept for every recorded job
    supports_retries: ClassVar[bool] = True  # recorded only
    supports_timeout: ClassVar[bool] = True  # recorded only
    supports_named_queues: ClassVar[bool] = True  # recorded
    supports_bulk: ClassVar[bool] = True  # recorded as one batch
    supports_cancel: ClassVar[bool] = True  # a recorded job is dropped
    supports_unique: ClassVar[bool] = True  # locks in a dict, released when run_all() runs it
    supports_failed_store: ClassVar[bool] = True  # failures of run_all() are kept
    delivery: ClassVar[str] = "at-most-once"  # type: ignore[assignment]  # nothing is delivered

    def __init__(self, options: dict[str, Any] | None = None, /, **kwargs: Any) -> None:
        super().__init__(options, **kwargs)
        #: Envelopes waiting to run, as decoded from their wire form.
        self.pending: list[Envelope] = []
        #: Every envelope ever recorded, run or not.
        self.history: list[Envelope] = []
        self._results: dict[str, JobResult] = {}
        self.failed_store = MemoryFailedStore()
        self.locks = MemoryLocks()

    def _send(self, envelope: Envelope) -> None:
        wire = Envelope.decode(envelope.encode())
        self.pending.append(wire)
        self.history.append(wire)
        self._results[wire.id] = self._sent_result(wire)

    def _get_result(self, job_id: str) -> JobResult:
        try:
            return self._results[job_id]
        except KeyError:
            raise ResultUnavailable(f"No job {job_id!r} was recorded by this fake queue.") from None

    def _cancel(self, job_id: str) -> bool:
        for envelope in self.pending:
            if envelope.id == job_id:
                self.pending.remove(envelope)
                result = self._results[job_id]
                self._results[job_id] = JobResult(
                    result.id, result.job_name, JobStatus.CANCELED, result.queue, backend=self
                )
                return True
        return False

    def count(self, queue: str | None = None) -> int:
        name = queue or self.default_queue
        return sum(1 for envelope in self.pending if envelope.queue == name)

    def _record(self, outcome: Outcome) -> None:
        if outcome.job_id is not None:
            self._results[outcome.job_id] = outcome.to_result(self)

    def run_all(self) -> list[JobResult]:
        """Run every pending job (and any they enqueue) in priority order; return their results."""
        results = []
        while self.pending:
            self.pending.sort(key=lambda e: -int(e.options.get("priority", 0)))
            envelope = self.pending.pop(0)
            outcome = self.process(envelope)
            results.append(outcome.to_result(self))
        return results

    def clear(self) -> None:
        """Forget every recorded job, failure and uniqueness lock."""
        self.pending.clear()
        self.history.clear()
        self._results.clear()
        self.failed.purge()
        self.locks = MemoryLocks()

    def enqueued(self, name: str | None = None) -> list[Envelope]:
        """Recorded envelopes, optionally only those of job ``name``."""
        return [e for e in self.history if name is None or e.job == name]

    def assert_enqueued(
        self,
        name: str,
        args: Sequence[Any] = _MISSING,
        kwargs: dict[str, Any] = _MISSING,
        count: int | None = None,
        **options: Any,
    ) -> list[Envelope]:
        """Assert job ``name`` was enqueued (with these args/kwargs/options, ``count`` times)."""
        matches = [
            e
            for e in self.enqueued(name)
            if (args is _MISSING or e.args == list(args))
            and (kwargs is _MISSING or e.kwargs == kwargs)
            and all(_option_matches(e, key, value) for key, value in options.items())
        ]
        wanted = f"{name!r}" + "".join(
            f" {label}={value!r}"
            for label, value in (("args", args), ("kwargs", kwargs), *options.items())
            if value is not _MISSING
        )
        if count is None and not matches:
            raise AssertionError(f"Job {wanted} was not enqueued. Enqueued: {self._summary()}")
        if count is not None and len(matches) != count:
            raise AssertionError(
                f"Job {wanted} was enqueued {len(matches)} times, expected {count}. "
                f"Enqueued: {self._summary()}"
            )
        return matches

    def assert_not_enqueued(self, name: str) -> None:
        """Assert job ``name`` was never enqueued."""
        self.assert_enqueued(name, count=0)

    def _summary(self) -> str:
        if not self.history:
            return "nothing"
        return "; ".join(f"{e.job}(args={e.args!r}, kwargs={e.kwargs!r})" for e in self.history)


def _option_matches(envelope: Envelope, key: str, value: Any) -> bool:
    if key == "queue":
        return bool(envelope.queue == value)
    if key == "delay":  # the envelope keeps the eta it was turned into
        if isinstance(value, timedelta):
            value = value.total_seconds()
        eta = envelope.options.get("eta")
        return eta is not None and abs(eta - envelope.enqueued_at - value) < 0.001
    if key == "eta" and isinstance(value, datetime):
        return bool(envelope.options.get("eta") == value.timestamp())
    return bool(envelope.options.get(key) == value)


@contextmanager
def fake_queue(app: Any = None, collector: JobCollector | None = None) -> Iterator[FakeQueue]:
    """Install a :class:`FakeQueue` with every collected job (default: ``JOB_COLLECTOR``) as
    the queue of ``app`` (or the process) for the duration of the block, then restore the
    previous one."""
    previous = _lookup(app)
    queue = FakeQueue()
    (collector or jobs.JOB_COLLECTOR).register_jobs(queue)
    queue.app = app
    _store(app, queue)
    try:
        yield queue
    finally:
        _store(app, previous)
