"""The no-op job every benchmark runs, for queuekit and for each native engine.

Worker processes import this module by name (``benchmarks/`` is on their PYTHONPATH):
``queuekit worker --app _apps:collector``, ``huey_consumer _apps.huey``, ``rq worker`` running
``_apps.noop``, ``celery -A _apps:celery_app`` and ``python _apps.py kombu-worker``. The native
apps are built on first access from ``BENCH_*`` environment variables, so importing this module
builds nothing.

A job called with a ``port`` sends ``"<tag> <time.time()>"`` to that UDP port on 127.0.0.1 as it
starts: that is how the harness learns when the first and last jobs of a drain, and each
latency probe, began. Every other call does nothing.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
from typing import Any

from queuekit import JobCollector

JOB = "bench.noop"

_sock: socket.socket | None = None


def noop(port: int = 0, tag: int = 0) -> None:
    """Do nothing, or tell the harness on ``port`` that job ``tag`` started."""
    if port:
        global _sock
        if _sock is None:
            _sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        _sock.sendto(f"{tag} {time.time()!r}".encode(), ("127.0.0.1", port))


collector = JobCollector()
collector.register_job(JOB, noop)


# -- native apps ---------------------------------------------------------------------------------


def make_huey(where: str, name: str, synchronous: str | None = None) -> Any:
    """huey with the storage queuekit's huey backend uses: PriorityRedisExpireHuey for a Redis
    URL, SqliteHuey for ``sqlite:///path``; the no-op task is ``app.noop``. ``synchronous``
    sets SQLite's synchronous pragma on every connection (huey offers only FULL or OFF)."""
    if where.startswith("sqlite:"):
        from huey import SqliteHuey
        from huey.storage import SqliteStorage

        class Storage(SqliteStorage):  # type: ignore[misc]
            def _create_connection(self) -> Any:
                conn = super()._create_connection()
                if synchronous:
                    conn.execute(f"pragma synchronous={synchronous}")
                return conn

        app = SqliteHuey(name, filename=where.split("://", 1)[1], storage_class=Storage)
    else:
        from huey import PriorityRedisExpireHuey

        app = PriorityRedisExpireHuey(name, url=where)
    app.noop = app.task(name=JOB)(noop)
    return app


def make_celery(
    broker: str, queue: str, confirm: bool = False, max_priority: int | None = None
) -> Any:
    """A Celery app as shipped (no result backend), its default queue ``queue``; ``confirm``
    turns on publisher confirms (RabbitMQ) and ``max_priority`` declares the queue with
    x-max-priority, as queuekit-celery does."""
    from celery import Celery

    app = Celery("bench", broker=broker, set_as_current=False)
    app.conf.update(
        task_default_queue=queue,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    if confirm:
        app.conf.broker_transport_options = {"confirm_publish": True}
    if max_priority:
        app.conf.task_queue_max_priority = max_priority
    app.task(name=JOB, ignore_result=True)(noop)
    return app


def kombu_entities(url: str, name: str) -> tuple[Any, Any]:
    """(exchange, queue) for the plain-kombu side; on AMQP the queue carries the same arguments
    as queuekit-kombu's work queues (x-max-priority 9, a dead-letter exchange), so both sides
    publish to the same kind of queue."""
    from kombu import Exchange, Queue

    exchange = Exchange(name, "direct", durable=True, delivery_mode=2)
    arguments = None
    if url.startswith("amqp"):
        arguments = {
            "x-dead-letter-exchange": f"{name}.dlx",
            "x-dead-letter-routing-key": "dead",
            "x-max-priority": 9,
        }
    queue = Queue(name, exchange, routing_key=name, durable=True, queue_arguments=arguments)
    return exchange, queue


def kombu_worker() -> None:
    """The plain-kombu 'native worker': consume with prefetch 4, decode, call, acknowledge."""
    import signal

    from kombu import Connection, Consumer

    url, name = os.environ["BENCH_KOMBU_URL"], os.environ["BENCH_KOMBU_QUEUE"]
    _, queue = kombu_entities(url, name)
    stop = False

    def handle(signum: int, frame: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)

    def on_message(body: Any, message: Any) -> None:
        noop(*body["args"])
        message.ack()

    with Connection(url) as conn:
        channel = conn.channel()
        channel.basic_qos(0, 4, False)
        with Consumer(channel, [queue], callbacks=[on_message], accept=["json"]):
            while not stop:
                with contextlib.suppress(TimeoutError):
                    conn.drain_events(timeout=0.25)


def __getattr__(name: str) -> Any:
    """``huey`` and ``celery_app`` for native workers, built from the environment on demand."""
    if name == "huey":
        value = make_huey(
            os.environ["BENCH_HUEY_URL"],
            os.environ["BENCH_HUEY_NAME"],
            os.environ.get("BENCH_HUEY_SYNCHRONOUS"),
        )
    elif name == "celery_app":
        priority = os.environ.get("BENCH_CELERY_MAX_PRIORITY")
        value = make_celery(
            os.environ["BENCH_CELERY_BROKER"],
            os.environ["BENCH_CELERY_QUEUE"],
            max_priority=int(priority) if priority else None,
        )
    else:
        raise AttributeError(name)
    globals()[name] = value
    return value


if __name__ == "__main__" and sys.argv[1:] == ["kombu-worker"]:
    kombu_worker()
