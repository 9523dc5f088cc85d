"""A worker loop for backends that have no native worker: fetch, process, acknowledge.

A backend that implements ``_fetch`` and ``_ack`` gets ``run_worker`` from this loop: threads,
burst mode, and graceful shutdown on SIGINT/SIGTERM (the job in hand finishes and is
acknowledged; nothing is taken from the queue after the signal).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
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
                received = fetch(self.queues, self.poll_timeout, self.stop)
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


def _watch_parent(parent: int) -> None:
    """In a child: stop gracefully once the parent is gone (it may have been SIGKILLed)."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            logger.warning("queuekit worker %d: parent %d is gone, stopping", os.getpid(), parent)
            os.kill(os.getpid(), signal.SIGTERM)
            return


def _child(target: Callable[[], None], parent: int) -> None:
    os.setpgid(0, 0)  # a terminal's Ctrl-C reaches the parent only; it forwards one SIGTERM
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    code = 0
    try:
        target()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        logger.exception("queuekit worker process %d crashed", os.getpid())
        code = 1
    finally:
        logging.shutdown()
        os._exit(code)


def run_processes(target: Callable[[], None], count: int) -> None:
    """Run ``target`` in ``count`` forked processes until SIGINT/SIGTERM, which is forwarded
    to each child as one SIGTERM (each finishes its job in hand). A child that dies of
    anything but a clean exit is replaced; one that exits cleanly (burst mode) is not."""
    parent = os.getpid()
    children: dict[int, int] = {}
    stop = threading.Event()

    def spawn(slot: int) -> None:
        pid = os.fork()
        if pid == 0:
            _child(target, parent)
        children[pid] = slot

    with stop_on_signals(stop):
        for slot in range(count):
            spawn(slot)
        forwarded = False
        while children:
            if stop.is_set() and not forwarded:
                for pid in children:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGTERM)
                forwarded = True
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                stop.wait(0.1)
                continue
            died = children.pop(pid) if pid in children else None
            clean = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
            if died is not None and not clean and not stop.is_set():
                logger.error(
                    "queuekit worker process %d died (status %d); replacing it", pid, status
                )
                spawn(died)
