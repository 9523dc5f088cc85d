"""The public conformance suite, run against the memory backend in both modes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from queuekit.backends.memory import MemoryQueue
from queuekit.base import BaseQueue
from queuekit.testing.conformance import QueueConformance


class TestMemoryThreaded(QueueConformance):
    """Threaded mode: one pool thread started when the worker block begins."""

    def make_queue(self) -> BaseQueue:
        return MemoryQueue(concurrency=1, autostart=False)

    @contextmanager
    def worker(self, queue: BaseQueue) -> Iterator[None]:
        assert isinstance(queue, MemoryQueue)
        queue.start()
        yield

    def inject_raw(self, queue: BaseQueue, data: bytes) -> None:
        assert isinstance(queue, MemoryQueue)
        queue.put_raw(data)


class TestMemoryImmediate(QueueConformance):
    """Immediate mode: jobs run inside enqueue, delayed ones when the queue is joined."""

    jobs_wait_for_worker = False

    def make_queue(self) -> BaseQueue:
        return MemoryQueue(mode="immediate")

    @contextmanager
    def worker(self, queue: BaseQueue) -> Iterator[None]:
        assert isinstance(queue, MemoryQueue)
        queue.join(timeout=self.wait_timeout)
        yield

    def inject_raw(self, queue: BaseQueue, data: bytes) -> None:
        assert isinstance(queue, MemoryQueue)
        queue.put_raw(data)
