"""The public conformance suite against the sqlite backend, worked by `queuekit worker` processes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from queuekit.backends.sqlite import SqliteQueue
from queuekit.base import BaseQueue
from queuekit.testing.conformance import QueueConformance
from queuekit.testing.process import worker_process


class TestSqliteConformance(QueueConformance):
    """Every conformance test, with a real worker process on a fresh database file."""

    @pytest.fixture(autouse=True)
    def _database(self, tmp_path: Path) -> None:
        self.db = tmp_path / "jobs.db"

    def make_queue(self) -> BaseQueue:
        return SqliteQueue(url=f"sqlite://{self.db}")

    @contextmanager
    def worker(self, queue: BaseQueue) -> Iterator[None]:
        args = ["--url", f"sqlite://{self.db}", "-Q", "default,other", "-o", "poll_interval=0.2"]
        with worker_process([*args, "--app", "queuekit.testing.jobs:collector"]):
            yield

    def inject_raw(self, queue: BaseQueue, data: bytes) -> None:
        assert isinstance(queue, SqliteQueue)
        queue.put_raw(data)
