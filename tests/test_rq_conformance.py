"""The public conformance suite against the rq backend, on Redis database 2, with rq's own
worker run by `queuekit worker --backend rq` in a child process."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# First, so that rq's key prefix for this test run is set before rq is imported.
from test_rq_jobs import clean

# isort: split
import pytest
import redis
from queuekit_rq import RqQueue
from rq.job import Job

from queuekit.base import BaseQueue
from queuekit.testing.conformance import STAMP, QueueConformance, wait_for_lines
from queuekit.testing.process import worker_process

URL = "redis://127.0.0.1:6379/2"

pytestmark = pytest.mark.redis


def make_rq_queue(**options: object) -> BaseQueue:
    return RqQueue(url=URL, **options)


class TestRqConformance(QueueConformance):
    """Every conformance test on database 2 (this run's keys deleted around each test), with the
    default forking rq.Worker."""

    wait_timeout = 30.0

    @pytest.fixture(autouse=True)
    def _clean(self) -> Iterator[None]:
        """Database 2 without this run's keys, before and after each test."""
        client = redis.Redis.from_url(URL)
        clean(client)
        yield
        clean(client)
        client.close()

    def make_queue(self) -> BaseQueue:
        return make_rq_queue()

    @contextmanager
    def worker(self, queue: BaseQueue) -> Iterator[None]:
        args = ["--backend", "rq", "--url", URL, "-Q", "default,other"]
        # A tenth of a second between scheduler passes, so backoff tests can tell 0.3 s from 0.6 s.
        args += ["-o", "scheduler_interval=0.1", "--app", "queuekit.testing.jobs:collector"]
        with worker_process(args):
            yield

    def inject_raw(self, queue: BaseQueue, data: bytes) -> None:
        """An rq job whose stored call data is ``data``, as a hand-written producer could leave it."""
        assert isinstance(queue, RqQueue)
        job_id = f"raw{time.time_ns()}"
        queue.client.hset(
            Job.key_for(job_id),
            mapping={"data": data, "origin": "default", "status": "queued", "created_at": ""},
        )
        queue.client.rpush(queue.rq_queue().key, job_id)

    def test_priority_runs_higher_first(self, queue: BaseQueue, tmp_path: Path) -> None:
        """Declared approximation: a job with priority > 0 goes to the front of its rq queue, so it
        starts before every job already waiting with priority <= 0 (and the newest front job first)."""
        path = tmp_path / "order"
        for label, priority in (("low", 0), ("zero", 0), ("high", 9), ("higher", 5)):
            queue.enqueue(STAMP, [str(path), label], priority=priority)
        with self.worker(queue):
            lines = wait_for_lines(path, 4, self.wait_timeout)
        assert [line.split()[0] for line in lines] == ["higher", "high", "low", "zero"]
