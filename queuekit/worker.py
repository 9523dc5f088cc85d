"""A worker loop for backends that have no native worker: fetch, process, acknowledge.

A backend that implements ``_fetch`` and ``_ack`` gets ``run_worker`` from this loop: threads,
burst mode, and graceful shutdown on SIGINT/SIGTERM (the job in hand finishes and is
acknowledged; nothing is taken from the queue after the signal).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any

from .events import logger

if TYPE_CHECKING:
    from .base import BaseQueue


@dataclass
class Received:
    """One message taken from the engine, with whatever the backend needs to acknowledge it."""

    message: bytes | str
    token: Any = None


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Set ``stop`` on SIGINT/SIGTERM while the block runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if stop.is_set():
            logger.warning("queuekit worker: second %s, exiting without waiting", name)
            raise SystemExit(1)
        logger.warning("queuekit worker: %s received, finishing the jobs in hand", name)
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class PollingWorker:
    """Runs ``queue.process`` on messages from ``queue._fetch`` in ``concurrency`` threads."""

    def __init__(
        self,
        queue: BaseQueue,
        queues: Sequence[str],
        concurrency: int = 1,
        burst: bool = False,
        poll_timeout: float = 1.0,
    ) -> None:
        self.queue = queue
        self.queues = list(queues)
        self.concurrency = max(1, concurrency)
        self.burst = burst
        self.poll_timeout = poll_timeout
        self.stop = threading.Event()
        self.processed = 0
        self._lock = threading.Lock()

    def _loop(self) -> None:
        fetch, ack = self.queue._fetch, self.queue._ack
        while not self.stop.is_set():
            try:
                received = fetch(self.queues, self.poll_timeout)
            except Exception:
                logger.exception(
                    "queuekit worker: fetching from %s failed", self.queue.backend_name
                )
                self.stop.wait(self.poll_timeout)
                continue
            if received is None:
                if self.burst:
                    return
                continue
            outcome = self.queue.process(received.message)
            try:
                ack(received, outcome)
            except Exception:
                logger.exception("queuekit worker: acknowledging job %s failed", outcome.job_id)
            with self._lock:
                self.processed += 1

    def run(self) -> int:
        """Work until stopped (or, in burst mode, until nothing is due); return jobs processed."""
        logger.info(
            "queuekit worker on %r: queues %s, concurrency %d%s",
            self.queue,
            ", ".join(self.queues),
            self.concurrency,
            ", burst" if self.burst else "",
        )
        with stop_on_signals(self.stop):
            if self.concurrency == 1:
                # The main thread runs the job, so a timeout can stop it with SIGALRM.
                self._loop()
            else:
                threads = [
                    threading.Thread(target=self._loop, name=f"queuekit-worker-{i}", daemon=True)
                    for i in range(self.concurrency)
                ]
                for thread in threads:
                    thread.start()
                while any(t.is_alive() for t in threads):
                    for thread in threads:
                        thread.join(timeout=0.2)
        logger.info("queuekit worker stopped after %d jobs", self.processed)
        return self.processed
