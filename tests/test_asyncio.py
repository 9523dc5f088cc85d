"""asyncio: ``await queue.aenqueue``/``await job.aenqueue`` and ``async def`` jobs, on every backend."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

import queuekit
from queuekit import InvalidArguments, Job, JobStatus, available_backends, get_backend
from queuekit.base import BaseQueue
from queuekit.envelope import Envelope
from queuekit.testing.process import worker_process
from tests.apps import async_jobs

ROOT = Path(__file__).resolve().parent.parent
APP = ["--app", "tests.apps.async_jobs:collector"]
REDIS_URL = "redis://127.0.0.1:6379/5"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"


def sqlite_queue(path: Path) -> BaseQueue:
    """A sqlite queue at ``path`` with the async jobs registered."""
    return async_jobs.collector.register_jobs(
        queuekit.create_queue(backend="sqlite", path=str(path))
    )


def memory_queue(**options: Any) -> BaseQueue:
    """A memory queue with the async jobs registered."""
    return async_jobs.collector.register_jobs(queuekit.create_queue(backend="memory", **options))


def wait_finished(queue: BaseQueue, job_id: str, timeout: float = 30.0) -> queuekit.JobResult:
    """Poll ``job_id`` until it has finished; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = queue.get_result(job_id)
        if result.finished or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


class SlowQueue(BaseQueue):
    """A backend whose send blocks for 0.3 s and remembers the thread it ran on."""

    backend_name: ClassVar[str] = "slow"

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, int]] = []

    def _send(self, envelope: Envelope) -> None:
        time.sleep(0.3)
        self.sent.append((envelope.id, threading.get_ident()))


# -- aenqueue --------------------------------------------------------------------------------


def test_queue_aenqueue_stores_the_job_and_returns_its_id(tmp_path: Path) -> None:
    """``await queue.aenqueue`` puts the job on the sqlite queue and returns its id."""
    queue = sqlite_queue(tmp_path / "jobs.db")
    job_id = asyncio.run(queue.aenqueue("asyncjobs.double", [21]))
    result = queue.get_result(job_id)
    assert (result.status, result.job_name) == (JobStatus.QUEUED, "asyncjobs.double")
    queue.close()


def test_aenqueue_never_blocks_the_event_loop() -> None:
    """While a slow backend sends, the loop keeps running other tasks; the send ran off-loop."""
    queue = SlowQueue()
    queue.register_job("asyncjobs.double", async_jobs.double)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async def main() -> tuple[str, int]:
        task = asyncio.create_task(ticker())
        job_id = await queue.aenqueue("asyncjobs.double", [1])
        task.cancel()
        return job_id, threading.get_ident()

    job_id, loop_thread = asyncio.run(main())
    assert queue.sent[0][0] == job_id
    assert queue.sent[0][1] != loop_thread
    assert ticks >= 5, f"the loop ran only {ticks} ticks during a 0.3 s send"
    assert type(queue).async_enqueue == "thread"


def test_aenqueue_refuses_non_json_arguments_in_the_caller() -> None:
    """Validation is the same as enqueue's: a set argument is refused with its path named."""
    queue = memory_queue()
    with pytest.raises(InvalidArguments, match=r"args\[0\] is a set"):
        asyncio.run(queue.aenqueue("asyncjobs.double", [{1, 2}]))
    queue.close()


def test_job_aenqueue_returns_a_job_result_with_the_value() -> None:
    """``await job.aenqueue(...)`` returns a JobResult that an async job fills with its value."""
    queue = memory_queue()
    double = Job(async_jobs.double, "asyncjobs.double").using(backend=queue)

    async def main() -> queuekit.JobResult:
        return await double.aenqueue(21)

    result = asyncio.run(main()).wait(timeout=10)
    assert (result.status, result.return_value) == (JobStatus.SUCCEEDED, 42)
    queue.close()


def test_job_aenqueue_finds_the_registered_app_queue() -> None:
    """Without ``using()``, ``aenqueue`` goes to the queue ``register_app`` configured."""
    queue = queuekit.register_app({"QUEUEKIT_BACKEND": "memory"})
    assert queue is not None
    async_jobs.collector.register_jobs(queue)
    double = Job(async_jobs.double, "asyncjobs.double")
    result = asyncio.run(double.aenqueue(5)).wait(timeout=10)
    assert result.return_value == 10
    queue.close()


# -- async jobs in this process --------------------------------------------------------------


def test_async_job_failure_is_recorded_with_its_message() -> None:
    """An exception raised inside an async job fails the job with the error kept."""
    queue = memory_queue()
    result = queue.submit("asyncjobs.boom", ["disk"]).wait(timeout=10)
    assert result.status is JobStatus.FAILED
    assert result.error is not None
    assert (result.error.type, result.error.message) == ("ValueError", "async boom: disk")
    queue.close()


def test_async_job_runs_tasks_concurrently_on_its_loop() -> None:
    """An async job may gather tasks on its own loop; the return value is the gathered list."""
    queue = memory_queue()
    result = queue.submit("asyncjobs.gathered", [5]).wait(timeout=10)
    assert result.return_value == [0, 1, 4, 9, 16]
    queue.close()


def test_immediate_mode_inside_a_running_loop_uses_a_helper_thread() -> None:
    """An immediate-mode enqueue from async code cannot nest a loop: the job runs on a helper."""
    queue = memory_queue(mode="immediate")

    async def main() -> queuekit.JobResult:
        return queue.submit("asyncjobs.thread_name")

    result = asyncio.run(main())
    assert (result.status, result.return_value) == (JobStatus.SUCCEEDED, "queuekit-async-job")
    queue.close()


def test_every_known_backend_declares_async_support() -> None:
    """Each importable backend class says it runs async jobs and how aenqueue reaches it."""
    checked = []
    for name, info in available_backends().items():
        if not info.importable:
            continue
        cls = get_backend(name)
        assert cls.supports_async_jobs is True, name
        assert cls.async_enqueue in ("thread", "native"), name
        checked.append(name)
    assert {"memory", "sqlite"} <= set(checked)


# -- async jobs in worker processes ----------------------------------------------------------


def test_async_job_value_from_a_sqlite_worker_process(tmp_path: Path) -> None:
    """A ``queuekit worker`` process runs async jobs and stores their values."""
    database = tmp_path / "jobs.db"
    queue = sqlite_queue(database)

    async def produce() -> list[str]:
        return [
            await queue.aenqueue("asyncjobs.double", [4]),
            await queue.aenqueue("asyncjobs.gathered", [3]),
        ]

    ids = asyncio.run(produce())
    args = ["--backend", "sqlite", "-o", f"path={database}", "--burst", *APP]
    with worker_process(args, cwd=ROOT) as worker:
        assert worker.wait(60) == 0
    values = [wait_finished(queue, job_id).return_value for job_id in ids]
    assert values == [8, [0, 1, 4]]
    queue.close()


def test_async_job_timeout_stops_the_job_in_a_worker_process(tmp_path: Path) -> None:
    """timeout= stops an async job awaiting on its loop; the job fails naming the limit."""
    database = tmp_path / "jobs.db"
    queue = sqlite_queue(database)
    job_id = queue.enqueue("asyncjobs.nap", [30], timeout=0.5)
    started = time.monotonic()
    with worker_process(
        ["--backend", "sqlite", "-o", f"path={database}", "--burst", *APP], cwd=ROOT
    ):
        result = wait_finished(queue, job_id)
    assert time.monotonic() - started < 20
    assert result.status is JobStatus.FAILED
    assert result.error is not None
    assert "ran longer than its timeout of 0.5 s and was stopped" in result.error.message
    queue.close()


@pytest.fixture
def redis_db5() -> Iterator[None]:
    """Redis database 5 (queuekit's integration tests), flushed before and after."""
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield
    client.flushdb()
    client.close()


def _backend_setup(
    name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> tuple[dict[str, Any], list[str]]:
    """(create_queue options, worker arguments) for running ``name`` end to end."""
    if name == "sqlite":
        return {"path": str(tmp_path / "jobs.db")}, ["-o", f"path={tmp_path / 'jobs.db'}"]
    if name == "spool":
        return {"path": str(tmp_path / "spool")}, ["-o", f"path={tmp_path / 'spool'}"]
    pytest.importorskip(f"queuekit_{name}")
    if name == "kombu":
        namespace = f"qk-async-{uuid.uuid4().hex[:8]}"
        request.addfinalizer(lambda: _delete_kombu(namespace))
        return (
            {"url": AMQP_URL, "namespace": namespace},
            ["--url", AMQP_URL, "-o", f"namespace={namespace}"],
        )
    request.getfixturevalue("redis_db5")
    return {"url": REDIS_URL}, ["--url", REDIS_URL]


def _delete_kombu(namespace: str) -> None:
    """Remove the RabbitMQ queues and exchanges a kombu namespace declared."""
    from kombu import Connection

    with Connection(AMQP_URL, connect_timeout=5) as conn:
        channel = conn.channel()
        for queue in ("default", "dead"):
            channel.queue_delete(f"{namespace}.{queue}")
        for exchange in (namespace, f"{namespace}.dlx", f"{namespace}.delay"):
            channel.exchange_delete(exchange)


@pytest.mark.parametrize(
    "backend",
    [
        "sqlite",
        "spool",
        pytest.param("huey", marks=pytest.mark.redis),
        pytest.param("rq", marks=pytest.mark.redis),
        pytest.param("celery", marks=pytest.mark.redis),
        pytest.param("kombu", marks=pytest.mark.rabbitmq),
    ],
)
def test_async_job_enqueued_from_async_code_runs_on_every_backend(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Enqueued with ``await aenqueue`` from a loop, an async job runs in that backend's worker
    process on an event loop, with its job context."""
    options, worker_args = _backend_setup(backend, request, tmp_path)
    queue = async_jobs.collector.register_jobs(queuekit.create_queue(backend=backend, **options))
    out = tmp_path / "notes.txt"
    job_id = asyncio.run(queue.aenqueue("asyncjobs.note", [str(out), backend]))
    with worker_process(["--backend", backend, *worker_args, *APP], cwd=ROOT):
        deadline = time.monotonic() + 30
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    queue.close()
    line = out.read_text().split()
    assert line[:3] == [backend, job_id, "loop=_UnixSelectorEventLoop"]
