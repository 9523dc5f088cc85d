"""Fault suite, part 3: Redis and RabbitMQ stopped and restarted mid-stream, with the commands the
machine's documentation gives. Producers get a typed error within a bound, never a hang; running
workers reconnect by themselves; RabbitMQ (persistent) loses nothing it accepted.

These tests stop services other suites use: they are marked slow and stops_services (no other
test runs meanwhile, tests/conftest.py), take an exclusive lock on
/tmp/queuekit-broker-restart.lock around every restart, and always bring the service back up.
"""

from __future__ import annotations

import contextlib
import fcntl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from queuekit.base import BaseQueue
from queuekit.exceptions import QueueError
from tests import faults

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.stops_services]

LOCK = "/tmp/queuekit-broker-restart.lock"
#: Seconds an enqueue may take while the broker is down before it counts as a hang.
BOUND = 20.0

REDIS_START = [
    "redis-server",
    "--daemonize",
    "yes",
    "--bind",
    "127.0.0.1",
    "-::1",
    "--port",
    "6379",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    "/var/lib/redis",
    "--logfile",
    "/var/log/redis/ci.log",
]


@contextlib.contextmanager
def exclusive() -> Iterator[None]:
    """One broker restart at a time on this machine, across test runs."""
    with open(LOCK, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def wait_for_port(port: int, up: bool, timeout: float) -> None:
    faults.wait_until(lambda: faults.answers(port) is up, timeout, f"port {port} up={up}")


@contextlib.contextmanager
def redis_down() -> Iterator[None]:
    """Redis stopped for the block (``shutdown nosave``), started again afterwards, always."""
    subprocess.run(
        ["redis-cli", "-p", "6379", "shutdown", "nosave"], capture_output=True, timeout=30
    )
    try:
        wait_for_port(6379, False, 30)
        yield
    finally:
        if not faults.answers(6379):
            subprocess.run(REDIS_START, capture_output=True, timeout=60)
        wait_for_port(6379, True, 60)


@contextlib.contextmanager
def rabbitmq_down() -> Iterator[None]:
    """RabbitMQ's app stopped for the block (``rabbitmqctl stop_app``), started again always."""
    subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True, timeout=120)
    try:
        wait_for_port(5672, False, 60)
        yield
    finally:
        subprocess.run(["rabbitmqctl", "start_app"], capture_output=True, timeout=180)
        if not faults.answers(5672):  # the documented full restart
            subprocess.run(["rabbitmqctl", "stop"], capture_output=True, timeout=120)
            subprocess.run(["rabbitmq-server", "-detached"], capture_output=True, timeout=60)
        wait_for_port(5672, True, 120)


def ready(names: list[str]) -> list[faults.Backend]:
    found = []
    for name in names:
        backend = faults.BACKENDS[name]
        if backend.module is not None:
            pytest.importorskip(backend.module)
        found.append(backend)
    return found


class Stream:
    """One backend's queue and worker, and the items it was asked to run."""

    def __init__(self, backend: faults.Backend, run: Path) -> None:
        self.backend = backend
        self.run = run
        run.mkdir()
        self.options = backend.options(run, f"restart{time.time_ns() % 10**8}")
        self.queue: BaseQueue = faults.make_queue(backend, self.options)
        self.out = run / "runs"
        self.log = run / "worker.log"
        self.worker: Any = None
        self.accepted: list[int] = []
        self.next = 0

    def start(self) -> None:
        self.worker = faults.spawn(self.backend, self.options, self.log)

    def send(self, count: int, seconds: float = 0.0) -> None:
        items = list(range(self.next, self.next + count))
        self.queue.enqueue_many(faults.RECORD, [[str(self.out), i, seconds] for i in items])
        self.accepted += items
        self.next += count

    def missing(self) -> set[int]:
        return set(self.accepted) - set(faults.Runs.read(self.out).done)

    def refused_while_down(self) -> tuple[str, float]:
        """(error type, seconds) of an enqueue while the broker is down."""
        started = time.monotonic()
        try:
            self.queue.enqueue(faults.RECORD, [str(self.out), -1])
        except QueueError as exc:
            assert "Faults-S3cret" not in str(exc)
            return type(exc).__name__, time.monotonic() - started
        except Exception as exc:
            raise AssertionError(
                f"{self.backend.name}: enqueue with the broker down raised {type(exc).__name__}, "
                f"not a QueueError: {exc}"
            ) from exc
        raise AssertionError(f"{self.backend.name}: enqueue succeeded with the broker down")

    def close(self) -> None:
        if self.worker is not None:
            faults.stop(self.worker)
        self.queue.close()
        self.backend.cleanup(self.options)


@contextlib.contextmanager
def streams(backends: list[faults.Backend], tmp_path: Path) -> Iterator[list[Stream]]:
    made: list[Stream] = []
    try:
        for backend in backends:
            made.append(Stream(backend, tmp_path / backend.name))
        yield made
    finally:
        for stream in made:
            with contextlib.suppress(Exception):
                stream.close()


@pytest.mark.redis
def test_redis_restart_mid_stream(tmp_path: Path) -> None:
    """Redis stopped under running workers: each producer raises a QueueError within the bound;
    after the restart the same workers, never restarted, run every job enqueued since (Redis
    runs here without persistence, so jobs waiting in it at the stop are not counted)."""
    backends = ready(["huey-redis", "rq", "celery-redis", "kombu-redis"])
    # kombu on Redis: its producer declares the routing (kombu's _kombu.binding.* keys) once
    # per channel; a restarted Redis without persistence forgot them, and publishes return
    # without error but are dropped until a worker declares again (docs/reliability.md, known
    # limits). Its producer's typed error is checked; the jobs sent right after are not.
    unrouted = {"kombu-redis"}
    with streams(backends, tmp_path) as running:
        for stream in running:
            stream.start()
            stream.send(10)
        for stream in running:
            faults.wait_until(
                lambda s=stream: not s.missing(), 90, f"{stream.backend.name} to start working"
            )
        refusals = {}
        with exclusive(), redis_down():
            time.sleep(1.0)  # the workers notice the broker is gone
            for stream in running:
                refusals[stream.backend.name] = stream.refused_while_down()
        print(f"\nwhile Redis was down: {refusals}")
        assert all(seconds < BOUND for _, seconds in refusals.values()), refusals
        checked = [s for s in running if s.backend.name not in unrouted]
        for stream in checked:
            stream.send(10)
        for stream in checked:
            faults.wait_until(
                lambda s=stream: not s.missing(),
                90,
                f"{stream.backend.name}'s worker to reconnect and run the new jobs",
            )
        for stream in running:
            assert stream.worker.poll() is None, stream.log.read_text()[-3000:]


@pytest.mark.rabbitmq
@pytest.mark.redis
def test_rabbitmq_restart_mid_stream_loses_nothing_accepted(tmp_path: Path) -> None:
    """RabbitMQ stopped while jobs wait in its durable queues and workers run: producers raise a
    QueueError within the bound; after start_app the same workers reconnect, and every job the
    broker accepted before the stop, and every one sent after, runs."""
    backends = ready(["celery-rabbitmq", "kombu-rabbitmq"])
    with streams(backends, tmp_path) as running:
        for stream in running:
            stream.start()
            stream.send(20, seconds=0.2)  # about four seconds of work: most still wait at the stop
        for stream in running:
            faults.wait_until(
                lambda s=stream: bool(faults.Runs.read(s.out).done), 90, "the workers to start"
            )
        refusals = {}
        with exclusive(), rabbitmq_down():
            waiting = {s.backend.name: len(s.missing()) for s in running}
            for stream in running:
                refusals[stream.backend.name] = stream.refused_while_down()
        print(f"\nwaiting at the stop: {waiting}; while RabbitMQ was down: {refusals}")
        assert all(seconds < BOUND for _, seconds in refusals.values()), refusals
        for stream in running:
            stream.send(10)
        for stream in running:
            faults.wait_until(
                lambda s=stream: not s.missing(),
                120,
                f"{stream.backend.name}: every accepted job after the restart",
            )
            assert stream.worker.poll() is None, stream.log.read_text()[-3000:]
