"""The public conformance suite against queuekit-celery on the real Redis (db 3) and the real
RabbitMQ, with `queuekit worker --backend celery` (Celery's solo pool) in a child process."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

import queuekit
from queuekit.base import BaseQueue
from queuekit.testing.conformance import QueueConformance
from queuekit.testing.process import worker_process

REDIS_URL = "redis://127.0.0.1:6379/3"  # celery's database (see the brief's allocation)
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"


def flush_redis() -> None:
    """Empty db 3; a queue created afterwards re-declares kombu's binding keys."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
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
    prefix = ""

    @pytest.fixture(autouse=True)
    def _clean(self) -> Iterator[None]:
        flush_redis()
        yield

    def config(self) -> dict[str, str]:
        return {"url": self.url, "result_backend": REDIS_URL, "queue_prefix": self.prefix}

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
            stop_signal=signal.SIGKILL,
        ):
            yield

    def inject_raw(self, queue: BaseQueue, data: bytes) -> None:
        queue.put_raw(data)  # type: ignore[attr-defined]


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
        flush_redis()
        self.prefix = f"celery-{uuid.uuid4().hex[:10]}."
        yield
        delete_amqp(self.prefix)
