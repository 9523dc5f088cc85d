"""The in-process backend: jobs run on a thread pool (or at enqueue, in immediate mode).

Messages still cross an encode/decode boundary, so a job sees exactly what a remote worker
would: its own copy of the arguments, as JSON gave them back.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timezone
from typing import ClassVar

from .. import events
from ..base import BaseQueue
from ..envelope import Envelope
from ..exceptions import JobTimeout, QueueClosed, ResultUnavailable, UnsupportedCapability
from ..options import Option
from ..results import JobResult, JobStatus
from ..runtime import Outcome
from ..stores import MemoryFailedStore, MemoryLocks

_RAW = "\0raw"  # waiting-count key of raw messages, which name no queue


def _now_dt() -> datetime:
    return datetime.now(timezone.utc)


class MemoryQueue(BaseQueue):
    """Runs jobs inside the enqueueing process; nothing survives the process."""

    backend_name: ClassVar[str] = "memory"

    supports_delay: ClassVar[bool] = True  # a scheduler thread releases jobs when due
    supports_priority: ClassVar[bool] = True  # one heap: higher priority first, then FIFO
    supports_results: ClassVar[bool] = True  # kept in a dict, newest `max_results`
    supports_retries: ClassVar[bool] = True  # the runtime schedules the next attempt
    supports_timeout: ClassVar[bool] = True  # a job over its limit fails; its thread runs on
    supports_named_queues: ClassVar[bool] = True  # one pool serves every named queue
    supports_bulk: ClassVar[bool] = True  # a batch is queued under one lock
    supports_cancel: ClassVar[bool] = True  # a waiting job is marked and skipped
    supports_unique: ClassVar[bool] = True  # locks in a dict of this process
    supports_failed_store: ClassVar[bool] = True  # kept in a dict of this process
    delivery: ClassVar[str] = "at-most-once"  # type: ignore[assignment]  # jobs die with the process

    capability_notes: ClassVar[dict[str, str]] = {
        "retries": "emulated by the worker runtime",
        "timeout": "the job is marked failed; a pool thread cannot be stopped, so it runs on "
        "(immediate mode in the main thread: stopped by SIGALRM)",
    }

    options_schema: ClassVar[dict[str, Option]] = {
        "mode": Option(
            str,
            "threaded",
            "threaded: a pool runs jobs; immediate: run at enqueue",
            choices=("threaded", "immediate"),
        ),
        "concurrency": Option(int, 4, "worker threads in threaded mode"),
        "max_results": Option(int, 10_000, "finished results kept; the oldest are dropped"),
        "autostart": Option(
            bool, True, "start the pool at the first enqueue; false waits for start()"
        ),
    }

    def __init__(self, options: dict[str, object] | None = None, /, **kwargs: object) -> None:
        super().__init__(options, **kwargs)
        self.mode: str = self.options["mode"]
        self.immediate = self.mode == "immediate"
        if self.immediate:
            # Jobs run inside enqueue: none ever waits beside another (priority) or long
            # enough to be canceled.
            self.supports_priority = False  # type: ignore[misc]
            self.supports_cancel = False  # type: ignore[misc]
        # One lock, two conditions: pool threads wait on _ready_cond for jobs, one woken per job
        # (waking all four for each job made them fight the producer for the lock); result
        # and join waiters wait on _cond for any change.
        lock = threading.RLock()
        self._cond = threading.Condition(lock)
        self._ready_cond = threading.Condition(lock)
        self._seq = itertools.count()
        self._ready: list[tuple[int, int, str, bytes]] = []  # (-priority, seq, id, message)
        # (eta, seq, -priority, id, message)
        self._scheduled: list[tuple[float, int, int, str, bytes]] = []
        self._waiting: dict[str, int] = {}  # queue name -> jobs ready or scheduled
        self._results: OrderedDict[str, JobResult] = OrderedDict()
        # Ids in the order their jobs finished: _prune drops from the left without scanning
        # every result (a scan per enqueue made a backlog of 10,000+ jobs quadratic).
        self._finished: deque[str] = deque()
        self._running = 0
        self._canceled: set[str] = set()  # canceled ids still in a heap; skipped when popped
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._started = bool(self.options["autostart"])
        self.failed_store = MemoryFailedStore(self.options["max_results"])
        self.locks = MemoryLocks()

    # -- producer side ------------------------------------------------------------------------

    def _send(self, envelope: Envelope) -> None:
        self._send_many([envelope])

    def _send_many(self, envelopes: list[Envelope]) -> None:
        if self._closed:
            raise QueueClosed("This memory queue is closed; create a new queue to send jobs.")
        run_now: list[tuple[str, bytes]] = []
        # Encode the whole batch first: one envelope over max_payload_bytes sends none.
        messages = [envelope.encode() for envelope in envelopes]
        with self._cond:
            for envelope, message in zip(envelopes, messages, strict=True):
                eta = envelope.options.get("eta")
                rank = -envelope.options.get("priority", 0)
                self._results[envelope.id] = self._waiting_result(envelope)
                self._waiting[envelope.queue] = self._waiting.get(envelope.queue, 0) + 1
                if eta is not None and eta > time.time():
                    entry = (eta, next(self._seq), rank, envelope.id, message)
                    heapq.heappush(self._scheduled, entry)
                elif self.immediate:
                    run_now.append((envelope.id, message))
                else:
                    heapq.heappush(self._ready, (rank, next(self._seq), envelope.id, message))
            self._prune()
            self._ready_cond.notify(len(envelopes))
            self._cond.notify_all()
        if self._started and not self.immediate:
            self._start_threads()
        for job_id, message in run_now:
            self._run(job_id, message)

    def put_raw(self, data: bytes) -> None:
        """Queue bytes as if a broker delivered them (tests of the worker's refusals)."""
        with self._cond:
            heapq.heappush(self._ready, (0, next(self._seq), "", data))
            self._waiting[_RAW] = self._waiting.get(_RAW, 0) + 1
            self._ready_cond.notify()
            self._cond.notify_all()
        if self._started and not self.immediate:
            self._start_threads()

    def start(self) -> None:
        """Start the pool of a queue created with ``autostart=False``."""
        self._started = True
        if not self.immediate:
            self._start_threads()

    def _waiting_result(self, envelope: Envelope) -> JobResult:
        """A retry keeps the previous attempt's error and count; a new job starts afresh."""
        previous = self._results.get(envelope.id)
        fresh = self._sent_result(envelope)
        if previous is None or envelope.attempt == 1:
            return fresh
        return replace(previous, status=fresh.status, started_at=None, finished_at=None)

    def _result_after_send(self, envelope: Envelope) -> JobResult:
        return self._get_result(envelope.id) if self.immediate else self._sent_result(envelope)

    def _prune(self) -> None:
        excess = len(self._results) - self.options["max_results"]
        if excess <= 0:
            return
        while excess > 0 and self._finished:
            job_id = self._finished.popleft()
            result = self._results.get(job_id)
            if result is not None and result.finished:  # not one re-queued since
                del self._results[job_id]
                excess -= 1

    # -- results --------------------------------------------------------------------------------

    def _get_result(self, job_id: str) -> JobResult:
        with self._cond:
            result = self._results.get(job_id)
        if result is None:
            raise ResultUnavailable(
                f"No result for job {job_id!r} in this memory queue: it was never enqueued here, "
                f"or it was pruned (max_results={self.options['max_results']})."
            )
        return result

    def wait_for_change(self, result: JobResult, timeout: float) -> JobResult:
        with self._cond:
            current = self._results.get(result.id)
            if current is not None and current.status is result.status:
                self._cond.wait(max(timeout, 0.0))
        if self.immediate:
            self._run_due()
        return self.get_result(result.id)

    def _cancel(self, job_id: str) -> bool:
        with self._cond:
            result = self._results.get(job_id)
            if result is None or result.status not in (JobStatus.QUEUED, JobStatus.SCHEDULED):
                return False
            self._results[job_id] = replace(
                result, status=JobStatus.CANCELED, finished_at=_now_dt()
            )
            self._canceled.add(job_id)
            self._finished.append(job_id)
            self._waiting[result.queue] -= 1
            self._cond.notify_all()
            return True

    def count(self, queue: str | None = None) -> int:
        with self._cond:
            return self._waiting.get(queue or self.default_queue, 0)

    # -- running jobs ---------------------------------------------------------------------------

    def _claim(self, job_id: str) -> bool:
        """Mark a popped job running, unless it was canceled while it waited. Holds the lock."""
        if job_id in self._canceled:
            self._canceled.discard(job_id)
            return False
        result = self._results.get(job_id)
        if not job_id:
            self._waiting[_RAW] -= 1
        elif result is not None:
            self._waiting[result.queue] -= 1
            self._results[job_id] = replace(result, status=JobStatus.RUNNING, started_at=_now_dt())
        self._running += 1
        return True

    def _run(self, job_id: str, message: bytes) -> None:
        with self._cond:
            if not self._claim(job_id):
                return
        try:
            self.process(message)
        finally:
            with self._cond:
                self._running -= 1
                self._cond.notify_all()

    def _record(self, outcome: Outcome) -> None:
        with self._cond:
            if outcome.job_id is not None:
                self._results[outcome.job_id] = outcome.to_result(self)
                self._results.move_to_end(outcome.job_id)
                self._finished.append(outcome.job_id)
            self._cond.notify_all()

    def _release_due(self) -> float | None:
        """Move due scheduled jobs to the ready heap; return the next eta. Holds the lock."""
        now = time.time()
        while self._scheduled and self._scheduled[0][0] <= now:
            _, seq, rank, job_id, message = heapq.heappop(self._scheduled)
            heapq.heappush(self._ready, (rank, seq, job_id, message))
        return self._scheduled[0][0] if self._scheduled else None

    def _run_due(self) -> None:
        """Immediate mode: run scheduled jobs whose time has come, in the caller's thread."""
        while True:
            with self._cond:
                self._release_due()
                if not self._ready:
                    return
                _, _, job_id, message = heapq.heappop(self._ready)
            self._run(job_id, message)

    def _start_threads(self) -> None:
        if len(self._threads) >= self.options["concurrency"]:
            return
        with self._cond:
            while len(self._threads) < self.options["concurrency"]:
                thread = threading.Thread(
                    target=self._work, name=f"queuekit-memory-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()

    def _work(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return
                    next_eta = self._release_due()
                    if self._ready:
                        break
                    self._ready_cond.wait(
                        None if next_eta is None else max(next_eta - time.time(), 0)
                    )
                _, _, job_id, message = heapq.heappop(self._ready)
            self._run(job_id, message)

    def join(self, timeout: float | None = None) -> None:
        """Block until every job enqueued so far (scheduled ones included) has finished."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self.immediate:
                self._run_due()
            with self._cond:
                if not any(self._waiting.values()) and not self._running:
                    return
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise JobTimeout(
                        f"{sum(self._waiting.values())} jobs still waiting and {self._running} "
                        f"running after {timeout} s."
                        + ("" if self._started else " The pool was never started: call start().")
                    )
                next_eta = self._scheduled[0][0] - time.time() if self._scheduled else 0.05
                self._cond.wait(
                    max(min(x for x in (remaining, next_eta, 0.05) if x is not None), 0)
                )

    def run_worker(
        self,
        *,
        queues: Sequence[str] | None = None,
        concurrency: int | None = None,
        burst: bool = False,
    ) -> None:
        raise UnsupportedCapability(
            "The 'memory' backend runs jobs inside the process that enqueues them; it has no "
            "separate worker. Configure a backend with a worker process, such as 'sqlite'."
        )

    def close(self) -> None:
        with self._cond:
            dropped = sum(self._waiting.values())
            if dropped:
                events.logger.warning(
                    "closing memory queue with %d jobs still waiting; they will not run", dropped
                )
            self._closed = True
            self._ready_cond.notify_all()
            self._cond.notify_all()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=5)
