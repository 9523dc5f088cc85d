"""The public conformance suite against queuekit-kombu on the real RabbitMQ (and Redis for state),
with `queuekit worker --backend kombu` in a child process."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import queuekit
from queuekit.base import BaseQueue
from queuekit.testing.conformance import QueueConformance
from queuekit.testing.process import worker_process

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"
RESULT_URL = "redis://127.0.0.1:6379/4"  # kombu's Redis database (see the brief's allocation)

pytestmark = [pytest.mark.rabbitmq, pytest.mark.redis]


def new_namespace() -> str:
    return f"kombu-test-{uuid.uuid4().hex[:10]}"


def cleanup(namespace: str, queues: tuple[str, ...] = ("default", "other")) -> None:
    """Delete the namespace's queues and exchanges on RabbitMQ and its keys in Redis db 4."""
    import redis
    from kombu import Connection
    from queuekit_kombu._topology import MAX_BUCKET_MS, MIN_BUCKET_MS

    buckets = []
    ms = MIN_BUCKET_MS
    while ms <= MAX_BUCKET_MS:
        buckets.append(ms)
        ms *= 2
    names = [f"{namespace}.{q}" for q in queues] + [f"{namespace}.dead"]
    names += [f"{namespace}.delay.{ms}" for ms in buckets]
    with Connection(AMQP_URL, connect_timeout=5) as conn:
        channel = conn.channel()
        for name in names:
            channel.queue_delete(name)
        for exchange in (namespace, f"{namespace}.dlx", f"{namespace}.delay"):
            channel.exchange_delete(exchange)
    client = redis.Redis.from_url(RESULT_URL)
    keys = list(client.scan_iter(f"queuekit:kombu:{namespace}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def publish_raw(queue: BaseQueue, data: bytes, routing_key: str = "default") -> None:
    """Publish bytes where the worker reads, as a hand-written message would arrive."""
    from kombu import Connection, Producer

    topology: Any = queue.topology  # type: ignore[attr-defined]
    with Connection(AMQP_URL, connect_timeout=5) as conn:
        producer = Producer(conn.channel())
        producer.maybe_declare(topology.work_queue(routing_key))
        producer.maybe_declare(topology.dead)
        producer.publish(
            data,
            exchange=topology.exchange,
            routing_key=routing_key,
            content_type="application/json",
            content_encoding="binary",
        )


class _KombuSuite(QueueConformance):
    wait_timeout = 30.0
    result_url: str | None = RESULT_URL

    @pytest.fixture(autouse=True)
    def _namespace(self) -> Iterator[None]:
        self.namespace = new_namespace()
        yield
        cleanup(self.namespace)

    def options(self) -> dict[str, str]:
        options = {"namespace": self.namespace}
        if self.result_url:
            options["result_url"] = self.result_url
        return options

    def make_queue(self) -> BaseQueue:
        return queuekit.create_queue(backend="kombu", url=AMQP_URL, **self.options())

    @contextmanager
    def worker(self, queue: BaseQueue) -> Iterator[None]:
        args = ["--backend", "kombu", "--url", AMQP_URL, "-Q", "default,other", "-c", "1"]
        for key, value in self.options().items():
            args += ["-o", f"{key}={value}"]
        with worker_process([*args, "--app", "queuekit.testing.jobs:collector"]):
            yield

    def inject_raw(self, queue: BaseQueue, data: bytes) -> None:
        publish_raw(queue, data)


class TestKombuConformance(_KombuSuite):
    """The whole suite on RabbitMQ with results, failed jobs and locks on Redis."""


class TestKombuDeadLetterConformance(_KombuSuite):
    """The suite without result_url: results absent, the dead-letter queue is the failed store."""

    result_url = None
