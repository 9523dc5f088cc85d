"""The public conformance suite against queuekit-celery on the real Redis (db 3) and the real
RabbitMQ, with `queuekit worker --backend celery` (Celery's solo pool) in a child process.

Each test names its queues and Redis keys after a prefix of its own and deletes them afterwards,
rather than flushing db 3: a flush would also delete the keys of a concurrent run, kombu's
binding keys included."""

from __future__ import annotations

import json
import signal
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import queuekit
from queuekit.base import BaseQueue
from queuekit.testing.conformance import QueueConformance
from queuekit.testing.process import worker_process

REDIS_URL = "redis://127.0.0.1:6379/3"  # celery's database (see the brief's allocation)
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"


def redis_namespace() -> dict[str, str]:
    """Options that name every Redis key of one test (its Celery queues and their kombu binding
    keys, results, failed jobs, locks) after a prefix of its own."""
    ns = f"celery-{uuid.uuid4().hex[:10]}"
    return {
        "queue_prefix": f"{ns}.",
        "key_prefix": f"{ns}:queuekit",
        "result_backend_transport_options": json.dumps({"global_keyprefix": f"{ns}:"}),
    }


def delete_redis(options: dict[str, str]) -> None:
    """Delete the keys of one test's namespace from db 3."""
    import redis

    ns = options["key_prefix"].split(":")[0]
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"*{ns}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def delete_amqp(prefix: str, names: tuple[str, ...] = ("default", "other")) -> None:
    """Delete the per-test queues and exchanges Celery declared on RabbitMQ."""
    from kombu import Connection

    with Connection(AMQP_URL, connect_timeout=5) as conn:
        channel = conn.channel()
        for name in names:
            channel.queue_delete(f"{prefix}{name}")
            channel.exchange_delete(f"{prefix}{name}")


class _CelerySuite(QueueConformance):
    wait_timeout = 30.0
    url = REDIS_URL
    stop_signal = signal.SIGKILL

    @pytest.fixture(autouse=True)
    def _clean(self) -> Iterator[None]:
        self.namespace = redis_namespace()
        yield
        delete_redis(self.namespace)

    def config(self) -> dict[str, str]:
        return {"url": self.url, "result_backend": REDIS_URL, **self.namespace}

    def make_queue(self) -> BaseQueue:
        return queuekit.create_queue(backend="celery", **self.config())

    @contextmanager
    def worker(self, queue: BaseQueue) -> Iterator[None]:
        options = [f"-o{key}={value}" for key, value in self.config().items() if key != "url"]
        args = ["--backend", "celery", "--url", self.url, *options, "-o", "pool=solo"]
        # SIGKILL: every test has its jobs finished before the block ends, and Celery's warm
        # shutdown waits up to a second for its event loop; warm shutdown is tested apart.
        with worker_process(
            [*args, "--app", "queuekit.testing.jobs:collector", "-c", "1", "-Q", "default,other"],
            stop_signal=self.stop_signal,
        ):
            yield

    def inject_raw(self, queue: BaseQueue, data: bytes) -> None:
        queue.put_raw(data)  # type: ignore[attr-defined]

    # These two look at the queue after the worker stopped: it must stop gracefully, or the
    # result of its last job (written just after the job's file) and, on RabbitMQ, the acks it
    # sent last (lost with a killed connection, so the messages are requeued) may be missing.

    def test_named_queue_routes_the_job(self, queue: BaseQueue, tmp_path: Path) -> None:
        """queue='other' routes the job there (worker stopped with SIGTERM)."""
        self.stop_signal = signal.SIGTERM
        super().test_named_queue_routes_the_job(queue, tmp_path)

    def test_len_counts_waiting_jobs(self, queue: BaseQueue, tmp_path: Path) -> None:
        """len(queue) counts waiting jobs and drops to 0 (worker stopped with SIGTERM)."""
        self.stop_signal = signal.SIGTERM
        super().test_len_counts_waiting_jobs(queue, tmp_path)

    # These three read the failed store once the job's result is final: the worker writes the
    # failed record just after the result, and a SIGKILL in between loses it (and, on RabbitMQ,
    # may lose the early ack, so the first attempt is delivered again and runs after the retry).

    def test_exhausted_retries_fail_for_good_into_the_failed_store(
        self, queue: BaseQueue, tmp_path: Path
    ) -> None:
        """Exhausted retries end in the failed store (worker stopped with SIGTERM)."""
        self.stop_signal = signal.SIGTERM
        super().test_exhausted_retries_fail_for_good_into_the_failed_store(queue, tmp_path)

    def test_discard_on_runs_once_and_keeps_the_traceback(
        self, queue: BaseQueue, tmp_path: Path
    ) -> None:
        """discard_on: one run, kept as discarded (worker stopped with SIGTERM)."""
        self.stop_signal = signal.SIGTERM
        super().test_discard_on_runs_once_and_keeps_the_traceback(queue, tmp_path)

    def test_failed_job_is_kept_and_can_be_retried(self, queue: BaseQueue, tmp_path: Path) -> None:
        """A failed job is kept and retried under its id (worker stopped with SIGTERM)."""
        self.stop_signal = signal.SIGTERM
        super().test_failed_job_is_kept_and_can_be_retried(queue, tmp_path)


@pytest.mark.redis
class TestCeleryRedisConformance(_CelerySuite):
    """Conformance on a Redis broker with a Redis result backend."""


@pytest.mark.redis
@pytest.mark.rabbitmq
class TestCeleryRabbitConformance(_CelerySuite):
    """Conformance on RabbitMQ (per-test queue names) with a Redis result backend."""

    url = AMQP_URL

    @pytest.fixture(autouse=True)
    def _clean(self) -> Iterator[None]:
        self.namespace = redis_namespace()
        yield
        delete_amqp(self.namespace["queue_prefix"])
        delete_redis(self.namespace)
