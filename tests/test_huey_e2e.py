"""The huey backend end to end with real processes: 500 jobs through `queuekit worker`, shutdown
signals, a SIGKILLed worker (the delivery guarantee), burst mode, and the privacyIDEA drop-in."""

from __future__ import annotations

import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from queuekit_huey import HueyQueue

import queuekit
from queuekit import JobStatus
from queuekit.testing.conformance import wait_for_lines
from queuekit.testing.process import worker_process
from tests.apps import huey_jobs

REDIS_URL = "redis://127.0.0.1:6379/1"  # db 1 belongs to the huey backend's tests
APP = ["--app", "tests.apps.huey_jobs:collector"]
FAST_POLL = ["-o", "initial_delay=0.05", "-o", "max_delay=0.2"]
RECORD, HOLD = "hueytest.record", "hueytest.hold"

PRODUCER = """
import json, sys
import queuekit
from tests.apps.huey_jobs import collector
queue = queuekit.create_queue(backend="huey", url=sys.argv[1])
collector.register_jobs(queue)
path = sys.argv[2]
ids = [queue.enqueue("hueytest.record", [path, i]) for i in range(250)]
ids += queue.enqueue_many("hueytest.record", [[path, i] for i in range(250, 500)])
print(json.dumps(ids))
"""


@pytest.fixture
def redis_db() -> Iterator[redis.Redis]:
    """Redis database 1, flushed before and after the test."""
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    try:
        yield client
    finally:
        client.flushdb()
        client.close()


def _queue(url: str) -> HueyQueue:
    queue = queuekit.create_queue(backend="huey", url=url)
    assert isinstance(queue, HueyQueue)
    huey_jobs.collector.register_jobs(queue)
    return queue


def _wait_all(queue: HueyQueue, ids: list[str], timeout: float) -> dict[str, queuekit.JobResult]:
    deadline = time.monotonic() + timeout
    done: dict[str, queuekit.JobResult] = {}
    while len(done) < len(ids) and time.monotonic() < deadline:
        for job_id in ids:
            if job_id not in done:
                result = queue.get_result(job_id)
                if result.finished:
                    done[job_id] = result
        time.sleep(0.05)
    return done


@pytest.mark.parametrize(
    "storage",
    [pytest.param("redis", marks=pytest.mark.redis), "sqlite"],
)
def test_500_jobs_from_a_producer_process_run_exactly_once(
    request: pytest.FixtureRequest, tmp_path: Path, storage: str
) -> None:
    """A producer process enqueues 500 jobs; a worker runs each once; results read by id.

    Redis is worked by two threads, SQLite by two forked processes (huey's worker_type=process),
    whose log goes to the file given with -l, as privacyIDEA's worker does.
    """
    if storage == "redis":
        request.getfixturevalue("redis_db")
        url, extra = REDIS_URL, []
    else:
        url, extra = f"sqlite://{tmp_path}/huey.db", [*FAST_POLL, "-o", "worker_type=process"]
    out, log = tmp_path / "runs", tmp_path / "worker.log"
    queue = _queue(url)
    args = ["--backend", "huey", "--url", url, "-c", "2", "-l", str(log), *extra, *APP]
    with worker_process(args) as worker:
        produced = subprocess.run(
            [sys.executable, "-c", PRODUCER, url, str(out)],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        ids = json.loads(produced.stdout)
        results = _wait_all(queue, ids, timeout=90)
    assert len(set(ids)) == 500 and len(results) == 500
    assert {r.status for r in results.values()} == {JobStatus.SUCCEEDED}
    items = sorted(int(line.split()[0]) for line in out.read_text().splitlines())
    assert items == list(range(500)), "each job ran exactly once"
    assert [results[i].return_value["item"] for i in ids] == list(range(500))
    pids = {results[i].return_value["pid"] for i in ids}
    text = log.read_text()
    if storage == "sqlite":
        assert worker.pid not in pids  # the jobs ran in the consumer's forked children
        assert "Huey consumer started with 2 process" in text
    else:
        assert pids == {worker.pid} and "Huey consumer started with 2 thread" in text
    assert f"Executing queuekit.{RECORD}: {ids[0]}" in text
    assert len(queue) == 0
    queue.close()


@pytest.mark.redis
@pytest.mark.parametrize(
    ("stop", "graceful_signal", "finishes"),
    [
        (signal.SIGINT, "INT", True),
        (signal.SIGTERM, "INT", False),
        (signal.SIGTERM, "TERM", True),
        (signal.SIGTERM, "BOTH", True),
        (signal.SIGINT, "BOTH", True),
    ],
    ids=[
        "SIGINT-graceful",
        "SIGTERM-immediate",
        "SIGTERM-graceful-with-option",
        "SIGTERM-graceful-by-default",
        "SIGINT-graceful-by-default",
    ],
)
def test_shutdown_signals_follow_huey(
    redis_db: redis.Redis, tmp_path: Path, stop: int, graceful_signal: str, finishes: bool
) -> None:
    """huey's graceful signal lets the job in hand finish; the other stops at once and the
    interrupted job is FAILED with WorkerInterrupted and kept in the failed store."""
    queue = _queue(REDIS_URL)
    path = tmp_path / "held"
    job_id = queue.enqueue(HOLD, [str(path), 1.5])
    args = ["--backend", "huey", "--url", REDIS_URL, "-o", f"graceful_signal={graceful_signal}"]
    started = time.monotonic()
    with worker_process([*args, *APP], stop_signal=stop):
        assert wait_for_lines(path, 1, 20)[0].startswith("started")
        assert queue.get_result(job_id).status is JobStatus.RUNNING
    stopped_after = time.monotonic() - started
    result = queue.get_result(job_id)
    lines = path.read_text().splitlines()
    if finishes:
        assert result.status is JobStatus.SUCCEEDED and lines[-1] == "finished"
        assert stopped_after >= 1.5
    else:
        assert result.status is JobStatus.FAILED and "finished" not in lines
        assert result.error is not None and result.error.type.endswith("WorkerInterrupted")
        assert "did not finish" in result.error.message
        record = queue.failed.get(job_id)
        assert record.job_name == HOLD and record.envelope is not None
    queue.close()


@pytest.mark.redis
def test_sigkilled_worker_loses_the_job_in_hand(redis_db: redis.Redis, tmp_path: Path) -> None:
    """At-most-once, measured: a job whose worker is SIGKILLed mid-run is gone from the queue,
    stays 'running' and is never run again by the next worker, which serves new jobs."""
    queue = _queue(REDIS_URL)
    held, after = tmp_path / "held", tmp_path / "after"
    job_id = queue.enqueue(HOLD, [str(held), 3.0])
    command = [sys.executable, "-m", "queuekit", "worker", "--backend", "huey", "--url", REDIS_URL]
    with (tmp_path / "killed.log").open("wb") as sink:
        victim = subprocess.Popen([*command, *APP], stdout=sink, stderr=subprocess.STDOUT)
    try:
        assert wait_for_lines(held, 1, 20)[0].startswith("started")
        victim.send_signal(signal.SIGKILL)
        assert victim.wait(10) == -signal.SIGKILL
    finally:
        if victim.poll() is None:
            victim.kill()
    assert len(queue) == 0  # huey popped the message when the worker took it
    queue.enqueue(RECORD, [str(after), 1])
    with worker_process(["--backend", "huey", "--url", REDIS_URL, *APP]):
        assert wait_for_lines(after, 1, 20)
        time.sleep(3.5)  # longer than the killed job would have taken
    assert held.read_text().splitlines() == [f"started {victim.pid}"]
    assert queue.get_result(job_id).status is JobStatus.RUNNING
    queue.close()


def test_burst_worker_drains_the_queue_and_exits(tmp_path: Path) -> None:
    """`queuekit worker --burst` runs every waiting job, then exits 0 by itself."""
    url = f"sqlite://{tmp_path}/huey.db"
    queue = _queue(url)
    out = tmp_path / "runs"
    ids = queue.enqueue_many(RECORD, [[str(out), i] for i in range(20)])
    command = [sys.executable, "-m", "queuekit", "worker", "--backend", "huey", "--url", url]
    done = subprocess.run([*command, "--burst", *FAST_POLL, *APP], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    assert all(queue.get_result(i).status is JobStatus.SUCCEEDED for i in ids)
    assert len(out.read_text().splitlines()) == 20
    queue.close()


def test_process_workers_stop_a_job_at_its_timeout(tmp_path: Path) -> None:
    """With worker_type=process the runtime's SIGALRM stops an overrunning job in its process."""
    url = f"sqlite://{tmp_path}/huey.db"
    queue = _queue(url)
    path = tmp_path / "held"
    job_id = queue.enqueue(HOLD, [str(path), 30], timeout=0.5)
    args = ["--backend", "huey", "--url", url, "-o", "worker_type=process", *FAST_POLL, *APP]
    with worker_process(args):
        result = queue.get_result(job_id).with_backend(queue).wait(20)
    assert result.status is JobStatus.FAILED and result.error is not None
    assert "TimeLimitExceeded" in result.error.type and "was stopped" in result.error.message
    assert path.read_text().splitlines()[-1] != "finished"
    queue.close()


# -- privacyIDEA ---------------------------------------------------------------------------------


@pytest.mark.redis
def test_privacyidea_drop_in(redis_db: redis.Redis, tmp_path: Path) -> None:
    """PI_JOB_QUEUE_CLASS='queuekit_huey.HueyQueue' and PI_JOB_QUEUE_URL configure the queue;
    a request enqueues through wrap_job; `queuekit worker` sends the mail in the app context."""
    from tests.apps import pi_huey_app

    assert int(importlib.metadata.version("flask").split(".")[0]) >= 3
    outbox, log = tmp_path / "outbox", tmp_path / "queue.log"
    env = {pi_huey_app.URL_ENV: REDIS_URL, pi_huey_app.OUTBOX_ENV: str(outbox)}
    os.environ.update(env)
    try:
        app = pi_huey_app.create_app()
    finally:
        for key in env:
            del os.environ[key]
    queue = queuekit.get_job_queue(app)
    assert isinstance(queue, HueyQueue) and queue.app is app
    assert (queue.huey.name, queue.options["workers"]) == ("privacyidea", 2)
    reply = app.test_client().post("/validate/check", json={"email": "alice@example.com"})
    assert reply.json == {"result": {"status": True, "value": True}}
    (raw,) = redis_db.zrange("huey.redis.privacyidea", 0, -1)
    message = json.loads(raw[8:])
    assert message["job"] == "smtpserver.send_email"
    assert message["args"] == ["smtp1", ["alice@example.com"], "Your OTP", "Your OTP is 123456"]
    args = ["--app", "tests.apps.pi_huey_app:create_app", "-l", str(log)]
    with worker_process(args, env=env):
        (line,) = wait_for_lines(outbox, 1, 20)
        result = queue.get_result(message["id"]).with_backend(queue).wait(20)
    mail = json.loads(line)
    assert mail == {
        "smtp": "smtp1",
        "to": ["alice@example.com"],
        "subject": "Your OTP",
        "body": "Your OTP is 123456",
        "app": "privacyidea",
    }
    assert (result.status, result.return_value) == (JobStatus.SUCCEEDED, True)
    text = log.read_text()
    assert "Huey consumer started with 2 thread" in text
    assert f"Executing queuekit.smtpserver.send_email: {message['id']}" in text
    queue.close()


def test_privacyidea_unreachable_redis_is_an_error_not_silence(tmp_path: Path) -> None:
    """With Redis down, the request's enqueue raises naming the URL without its password."""
    from tests.apps import pi_huey_app

    env = {
        pi_huey_app.URL_ENV: "redis://pi:hunter2@127.0.0.1:1/1",
        pi_huey_app.OUTBOX_ENV: str(tmp_path / "outbox"),
    }
    os.environ.update(env)
    try:
        app = pi_huey_app.create_app()
    finally:
        for key in env:
            del os.environ[key]
    redacted = r"redis://pi:\*\*\*@127\.0\.0\.1:1/1"
    with (
        app.test_request_context(json={"email": "bob@example.com"}),
        pytest.raises(queuekit.QueueError, match=redacted) as err,
    ):
        pi_huey_app.send_email_via_queue("smtp1", ["bob@example.com"], "s", "b")
    assert "hunter2" not in str(err.value)
