"""The rq backend beyond the conformance suite: the mapping onto rq, JSON-only storage, refusals,
rq's own tooling, worker classes and shutdown, the delivery guarantee, and 500 jobs end to end."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# First, so that rq's key prefix for this test run is set before rq is imported.
from test_rq_jobs import HOLD, HOLD_RETRIED, RQ_PREFIX, SQUARE, STUBBORN, WHERE, clean
from test_rq_jobs import collector as rq_jobs

# isort: split
import pytest
import redis
from queuekit_rq import ENTRY_POINT, RedisUnavailable, RqQueue, on_failure
from queuekit_rq.worker import set_worker_queue
from rq import Queue
from rq.callbacks import Callback
from rq.command import send_stop_job_command
from rq.exceptions import AbandonedJobError
from rq.job import Job
from rq.registry import (
    CanceledJobRegistry,
    FailedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)
from rq.serializers import JSONSerializer

import queuekit
from queuekit import (
    ConfigurationError,
    InvalidArguments,
    JobStatus,
    QueueError,
    call,
    exponential,
)
from queuekit.base import CAPABILITIES
from queuekit.testing.conformance import ADD, FAIL, FLAKY, ONCE, TOUCH, wait_for_lines
from queuekit.testing.jobs import collector as conformance_jobs
from queuekit.testing.process import worker_process

URL = "redis://127.0.0.1:6379/2"
TESTS = Path(__file__).resolve().parent
RQ_JOBS = ["--app", "test_rq_jobs:collector"]
ENV = {"PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}

pytestmark = pytest.mark.redis


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    """A client on database 2, with this run's keys deleted before and after the test."""
    connection = redis.Redis.from_url(URL)
    clean(connection)
    yield connection
    clean(connection)
    connection.close()


@pytest.fixture
def queue(client: redis.Redis) -> Iterator[RqQueue]:
    """An rq queue on database 2 with the rq tests' jobs and the conformance jobs."""
    made = RqQueue(url=URL)
    rq_jobs.register_jobs(made)
    conformance_jobs.register_jobs(made)
    yield made
    set_worker_queue(None)
    made.close()


def rq_worker(*extra: str, app: list[str] = RQ_JOBS) -> Any:
    """`queuekit worker --backend rq` on database 2, in a child process, for a with-block."""
    args = ["--backend", "rq", "--url", URL, "-o", "scheduler_interval=0.1", *app, *extra]
    return worker_process(args, env=ENV)


def wait_until(predicate: Any, timeout: float = 30.0) -> Any:
    """Poll ``predicate`` until it returns something truthy; return that (or the last falsy)."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(0.05)
        value = predicate()
    return value


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


# -- discovery and configuration ------------------------------------------------------------


def test_backend_is_discovered_with_its_capabilities() -> None:
    """The queuekit-rq distribution provides 'rq'; every capability note names a real flag."""
    assert queuekit.get_backend("rq") is RqQueue
    info = queuekit.available_backends()["rq"]
    assert (info.distribution, info.version, info.importable) == ("queuekit-rq", "0.1.0", True)
    assert info.capabilities["delivery"] == "at-most-once"
    assert all(info.capabilities[name] is True for name in CAPABILITIES)
    assert set(RqQueue.capability_notes) <= {*CAPABILITIES, "delivery"}
    assert "approximate" in RqQueue.capability_notes["priority"]
    assert "emulated" in RqQueue.capability_notes["retries"]


def test_bad_options_are_refused_with_the_fix() -> None:
    """Unusable worker classes, URLs and intervals fail at configuration, saying what to use."""
    with pytest.raises(
        ConfigurationError, match=r"SpawnWorker.*use rq\.Worker or rq\.SimpleWorker"
    ):
        RqQueue(url=URL, worker_class="rq.worker.SpawnWorker")
    with pytest.raises(ConfigurationError, match=r"'nowhere\.Worker', which cannot be imported"):
        RqQueue(url=URL, worker_class="nowhere.Worker")
    with pytest.raises(ConfigurationError, match=r"must name an rq worker class, got 'rq\.Queue'"):
        RqQueue(url=URL, worker_class="rq.Queue")
    with pytest.raises(ConfigurationError, match=r"redis://.*'http://u:\*\*\*@h/0'"):
        RqQueue(url="http://u:secret@h/0")
    with pytest.raises(ConfigurationError, match="scheduler_interval"):
        RqQueue(url=URL, scheduler_interval=0)
    shown = repr(RqQueue(url="redis://user:s3cret@127.0.0.1:6379/2"))
    assert "redis://user:***@127.0.0.1:6379/2" in shown and "s3cret" not in shown


# -- the mapping onto rq ------------------------------------------------------------------------


def test_options_and_call_options_map_onto_the_rq_job(client: redis.Redis) -> None:
    """Queue name, timeout, TTLs, retries with their delays and priority land in rq's own fields."""
    queue = RqQueue(
        url=URL, default_queue="mail", result_ttl=60, failure_ttl=120, default_timeout=30
    )
    conformance_jobs.register_jobs(queue)
    backoff = exponential(base=2, factor=2, cap=100, jitter=0)
    job_id = queue.enqueue(
        ADD, [1, 2], queue="other", timeout=2.5, retries=3, backoff=backoff, priority=1
    )
    plain_id = queue.enqueue(ADD, [3, 4])
    job = Job.fetch(job_id, connection=client, serializer=JSONSerializer)
    assert (job.origin, job.func_name, job.instance, job.kwargs) == ("other", ENTRY_POINT, None, {})
    (envelope,) = job.args
    assert (envelope["id"], envelope["job"], envelope["args"]) == (job_id, ADD, [1, 2])
    assert (job.timeout, job.result_ttl, job.failure_ttl) == (3, 60, 120)  # 2.5 s, rounded up
    assert (job.retries_left, job.retry_intervals) == (3, [2.0, 4.0, 8.0])
    assert job.enqueue_at_front_on_retry is True
    assert job.description == f"{ADD}(1, 2)"
    plain = Job.fetch(plain_id, connection=client, serializer=JSONSerializer)
    assert (plain.origin, plain.timeout, plain.retries_left) == ("mail", 30, None)
    # priority > 0 went to the front of rq's list
    back_id = queue.enqueue(ADD, [5, 6], queue="other")
    front_id = queue.enqueue(ADD, [7, 8], queue="other", priority=5)
    listed = [i.decode() for i in client.lrange(queue.rq_queue("other").key, 0, -1)]
    assert listed == [front_id, job_id, back_id]
    queue.close()


def test_delay_is_scheduled_exactly_and_cancel_takes_it_back(
    queue: RqQueue, client: redis.Redis
) -> None:
    """delay= puts the job in rq's ScheduledJobRegistry at its exact time; cancel() removes it."""
    before = time.time()
    job_id = queue.enqueue(ADD, [1, 2], delay=30.25)
    registry = ScheduledJobRegistry("default", connection=client)
    score = client.zscore(registry.key, job_id)
    assert score is not None and before + 30.25 <= score <= time.time() + 30.25
    assert client.llen(queue.rq_queue().key) == 0 and len(queue) == 1
    assert queue.get_result(job_id).status is JobStatus.SCHEDULED
    assert queue.cancel(job_id) is True
    assert client.zscore(registry.key, job_id) is None and len(queue) == 0
    assert job_id in CanceledJobRegistry("default", connection=client)
    assert queue.get_result(job_id).status is JobStatus.CANCELED
    assert queue.cancel(job_id) is False


def test_callable_backoff_sets_rq_retry_intervals_from_the_worker(
    queue: RqQueue, client: redis.Redis, tmp_path: Path
) -> None:
    """A callable backoff is unknown at enqueue (rq's intervals start at 0); the runtime in the
    work horse sets each one before rq reschedules: 0.3 s, then 0.6 s."""
    path = tmp_path / "runs"
    job_id = queue.enqueue(STUBBORN, [str(path)])
    job = Job.fetch(job_id, connection=client, serializer=JSONSerializer)
    assert (job.retries_left, job.retry_intervals) == (2, [0.0, 0.0])
    with rq_worker():
        result = queue.get_result(job_id).with_backend(queue).wait(timeout=30)
    assert (result.status, result.attempts) == (JobStatus.FAILED, 3)
    assert result.error is not None and (result.error.type, result.error.message) == (
        "OSError",
        "stubborn",
    )
    job = Job.fetch(job_id, connection=client, serializer=JSONSerializer)
    assert job.retry_intervals == [0.3, 0.6]
    starts = [float(line) for line in lines(path)]
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert len(starts) == 3 and gaps[0] >= 0.3 - 0.05 and gaps[1] >= 0.6 - 0.05, gaps


def test_rq_statuses_map_onto_queuekit_statuses(queue: RqQueue, client: redis.Redis) -> None:
    """Each status rq can give a job reads back as the matching queuekit status."""
    job_id = queue.enqueue(ADD, [1, 2])
    expected = {
        "created": JobStatus.QUEUED,
        "queued": JobStatus.QUEUED,
        "deferred": JobStatus.QUEUED,
        "scheduled": JobStatus.SCHEDULED,
        "started": JobStatus.RUNNING,
        "finished": JobStatus.SUCCEEDED,
        "failed": JobStatus.FAILED,
        "stopped": JobStatus.FAILED,
        "canceled": JobStatus.CANCELED,
    }
    for rq_status, status in expected.items():
        client.hset(Job.key_for(job_id), "status", rq_status)
        assert queue.get_result(job_id).status is status, rq_status


def test_enqueue_many_is_one_round_trip(queue: RqQueue, monkeypatch: pytest.MonkeyPatch) -> None:
    """enqueue_many sends 100 calls in one MULTI/EXEC round trip and no other Redis command."""
    queue.enqueue(ADD, [0, 0])  # rq asks the server's version once per queue object
    calls: list[str] = []
    send = redis.connection.Connection.send_packed_command
    command = redis.Redis.execute_command

    def counted_send(self: Any, packed: Any, *args: Any, **kwargs: Any) -> Any:
        data = b"".join(packed) if isinstance(packed, list) else packed
        calls.append(f"one write: MULTI {b'MULTI' in data}, EXEC {b'EXEC' in data}")
        return send(self, packed, *args, **kwargs)

    def counted_command(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(str(args[0]))
        return command(self, *args, **kwargs)

    monkeypatch.setattr(redis.connection.Connection, "send_packed_command", counted_send)
    monkeypatch.setattr(redis.Redis, "execute_command", counted_command)
    ids = queue.enqueue_many(ADD, [call(i, i) for i in range(100)])
    monkeypatch.undo()
    assert calls == ["one write: MULTI True, EXEC True"], calls
    assert queue.rq_queue().job_ids == [queue.rq_queue().job_ids[0], *ids]


def test_oversized_envelope_is_refused_before_anything_is_sent(client: redis.Redis) -> None:
    """With max_payload_bytes, a batch holding one envelope over the limit sends nothing."""
    queue = RqQueue(url=URL, max_payload_bytes=2000)
    conformance_jobs.register_jobs(queue)
    with pytest.raises(InvalidArguments, match=r"over max_payload_bytes=2,000"):
        queue.enqueue_many(TOUCH, [["small"], ["x" * 3000], ["small"]])
    assert len(queue) == 0 and not list(client.scan_iter(match=f"{RQ_PREFIX}:job:*"))
    queue.close()


def test_a_delayed_envelope_over_the_limit_is_refused_too(client: redis.Redis) -> None:
    """A delayed call over max_payload_bytes is refused, and nothing of its batch is sent."""
    queue = RqQueue(url=URL, max_payload_bytes=2000)
    conformance_jobs.register_jobs(queue)
    with pytest.raises(InvalidArguments, match=r"over max_payload_bytes=2,000"):
        queue.enqueue_many(TOUCH, [["small"], ["x" * 3000]], delay=60)
    assert not list(client.scan_iter(match=f"{RQ_PREFIX}:job:*"))
    queue.close()


def test_the_limit_is_on_the_envelope_not_on_rq_s_longer_json(client: redis.Redis) -> None:
    """An envelope within max_payload_bytes is sent, though rq's JSON of it is over it."""
    probe = RqQueue(url=URL)
    conformance_jobs.register_jobs(probe)
    envelope = probe.build_envelope(TOUCH, [{"a": 1, "b": [1, 2]}])
    # The envelope's size moves by a few bytes with enqueued_at's digits: a margin of 5.
    limit = len(envelope.encode()) + 5
    probe.close()
    queue = RqQueue(url=URL, max_payload_bytes=limit)
    conformance_jobs.register_jobs(queue)
    (job_id,) = queue.enqueue_many(TOUCH, [[{"a": 1, "b": [1, 2]}]])
    assert len(queue.rq_queue().fetch_job(job_id).data) > limit  # rq's spaced JSON, around it
    with pytest.raises(InvalidArguments, match=r"over max_payload_bytes"):
        queue.enqueue(TOUCH, [{"a": 1, "b": [1, 2], "c": "x" * 20}])
    queue.close()


def test_rq_info_shows_queuekit_jobs(queue: RqQueue) -> None:
    """`rq info` (a subprocess) counts the jobs queuekit enqueued on each rq queue."""
    queue.enqueue_many(TOUCH, [["/nonexistent"]] * 5)
    queue.enqueue(TOUCH, ["/nonexistent"])
    queue.enqueue(TOUCH, ["/nonexistent"], queue="other")
    rq = Path(sys.executable).with_name("rq")
    done = subprocess.run(
        [str(rq), "info", "--url", URL, "--raw", "--only-queues"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    counts = {
        line.split()[1]: int(line.split()[2].rstrip(","))
        for line in done.stdout.splitlines()
        if line.startswith("queue ")
    }
    assert counts == {"default": 6, "other": 1}
    assert len(queue) == 6 and queue.count("other") == 1


# -- JSON only, and only queuekit's entry point runs ------------------------------------------


def _pickled(value: bytes) -> bool:
    """True when ``value`` (or its zlib or base64 decoding) is a pickle (protocol 2 or later)."""
    forms = [value]
    for decode in (zlib.decompress, base64.b64decode):
        with contextlib.suppress(Exception):
            forms.append(decode(value))
    return any(form[:1] == b"\x80" and form[1:2] in b"\x02\x03\x04\x05" for form in forms)


def _every_value(client: redis.Redis) -> Iterator[tuple[str, bytes]]:
    for raw_key in client.scan_iter(match=f"{RQ_PREFIX}:*", count=1000):
        key = raw_key.decode()
        kind = client.type(raw_key).decode()
        if kind == "string":
            yield key, client.get(raw_key) or b""
        elif kind == "hash":
            for field, value in client.hgetall(raw_key).items():
                yield f"{key}[{field.decode()}]", value
        elif kind == "list":
            for value in client.lrange(raw_key, 0, -1):
                yield key, value
        elif kind == "set":
            for value in client.smembers(raw_key):
                yield key, value
        elif kind == "zset":
            for value, _ in client.zrange(raw_key, 0, -1, withscores=True):
                yield key, value
        elif kind == "stream":
            for _, entry in client.xrange(raw_key):
                for field, value in entry.items():
                    yield f"{key}[{field.decode()}]", value
        else:
            raise AssertionError(f"unexpected Redis type {kind} at {key}")


def test_nothing_rq_stores_for_queuekit_jobs_is_a_pickle(
    queue: RqQueue, client: redis.Redis, tmp_path: Path
) -> None:
    """After successes, failures, retries, a schedule, a cancel and a unique job, every value rq
    (and queuekit) wrote in Redis is text or JSON; each job's data is rq JSON of the envelope."""
    ok = queue.enqueue(ADD, [2, 3])
    failed = queue.enqueue(FAIL, ["boom"])
    retried = queue.enqueue(FLAKY, [str(tmp_path / "flaky"), 1])
    queue.enqueue(ONCE, [str(tmp_path / "once"), "x"])
    queue.enqueue(ADD, [1, 1], delay=3600)
    queue.cancel(queue.enqueue(ADD, [1, 1]))
    with rq_worker(app=["--app", "queuekit.testing.jobs:collector"]):
        for job_id in (ok, failed, retried):
            queue.get_result(job_id).with_backend(queue).wait(timeout=30)
    assert queue.get_result(ok).return_value == 5
    assert queue.get_result(retried).attempts == 2
    checked = 0
    for where, value in _every_value(client):
        assert not _pickled(value), f"{where} holds a pickle: {value[:40]!r}"
        if where.startswith(f"{RQ_PREFIX}:job:") and where.endswith("[data]"):
            func, instance, args, kwargs = json.loads(zlib.decompress(value))
            assert (func, instance, kwargs) == (ENTRY_POINT, None, {}) and args[0]["v"] == 1
            checked += 1
        elif where.endswith(("[meta]", "[retry_intervals]")):
            json.loads(value)
        elif where.startswith(f"{RQ_PREFIX}:results:") and where.endswith("[return_value]"):
            json.loads(base64.b64decode(value))
    assert checked == 6


def test_hand_written_rq_jobs_are_refused_and_the_worker_goes_on(
    queue: RqQueue, client: redis.Redis, tmp_path: Path
) -> None:
    """rq jobs naming os.system, an unregistered importable function, or pickled by rq's default
    serializer are refused and set aside; none runs; a queuekit job after them still runs."""
    json_queue = Queue("default", connection=client, serializer=JSONSerializer)
    pwned = [tmp_path / name for name in ("system", "touch", "pickle")]
    system = json_queue.enqueue("os.system", f"touch {pwned[0]}")
    direct = json_queue.enqueue("queuekit.testing.jobs.touch", str(pwned[1]), "ran")
    pickled = Queue("default", connection=client).enqueue("os.system", f"touch {pwned[2]}")
    sneaky = json_queue.enqueue(
        ENTRY_POINT, {"v": 1}, on_success=Callback("os.system"), on_failure=Callback("os.abort")
    )
    after = queue.enqueue(SQUARE, [str(tmp_path / "after"), 7])
    with rq_worker():
        assert queue.get_result(after).with_backend(queue).wait(timeout=30).return_value == 49
    assert not any(path.exists() for path in pwned)
    refused = {job.id for job in (system, direct, pickled, sneaky)}
    assert refused <= set(FailedJobRegistry("default", connection=client).get_job_ids())
    records = {record.id: record for record in queue.failed.list()}
    assert refused <= set(records)
    assert records[system.id].reason == "rejected"
    assert records[system.id].error.type == "UnknownJob"
    assert "it names the function 'os.system'" in records[system.id].error.message
    assert records[system.id].job_name == "os.system" and "touch" in (records[system.id].raw or "")
    assert "'queuekit.testing.jobs.touch'" in records[direct.id].error.message
    assert records[pickled.id].error.type == "InvalidMessage"
    assert records[sneaky.id].error.type == "InvalidMessage"  # {"v": 1} is no envelope
    result = queue.get_result(system.id)
    assert result.status is JobStatus.FAILED and result.error is not None
    assert result.error.type == "UnknownJob"


def test_run_refuses_outside_a_configured_worker() -> None:
    """queuekit_rq.run, called outside an rq worker that queuekit configured, explains itself."""
    with pytest.raises(QueueError, match=r"queuekit worker --backend rq"):
        queuekit_rq_run({"v": 1})


def queuekit_rq_run(message: Any) -> Any:
    from queuekit_rq import run

    return run(message)


# -- workers ---------------------------------------------------------------------------------


def test_simple_worker_runs_in_process_and_burst_exits(queue: RqQueue) -> None:
    """worker_class=rq.SimpleWorker runs every job in the worker's process; rq.Worker forks one
    work horse per job; both exit by themselves in burst mode once the queue is empty."""
    pids: dict[str, list[int]] = {}
    for worker_class in ("rq.SimpleWorker", "rq.Worker"):
        ids = [queue.enqueue(WHERE) for _ in range(3)]
        args = ["--backend", "rq", "--url", URL, *RQ_JOBS, "--burst"]
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "queuekit",
                "worker",
                *args,
                "-o",
                f"worker_class={worker_class}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **ENV},
        )
        assert done.returncode == 0, done.stderr
        results = [queue.get_result(job_id) for job_id in ids]
        assert all(r.status is JobStatus.SUCCEEDED for r in results), results
        pids[worker_class] = [r.return_value for r in results]
    assert len(set(pids["rq.SimpleWorker"])) == 1
    assert len(set(pids["rq.Worker"])) == 3
    assert not set(pids["rq.Worker"]) & set(pids["rq.SimpleWorker"])


def test_idle_worker_outlives_redis_py_socket_timeout(queue: RqQueue, tmp_path: Path) -> None:
    """A worker idle for longer than redis-py's default 5 s socket timeout still blocks on rq's
    dequeue and runs the next job at once (its connection gets rq's longer timeout)."""
    with rq_worker() as process:
        time.sleep(6.5)
        assert process.poll() is None
        job_id = queue.enqueue(SQUARE, [str(tmp_path / "late"), 4])
        assert queue.get_result(job_id).with_backend(queue).wait(timeout=30).return_value == 16


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signal_is_a_warm_shutdown(queue: RqQueue, tmp_path: Path, stop: int) -> None:
    """SIGTERM or SIGINT while a job runs lets it finish (SUCCEEDED), starts nothing else, and
    the worker exits 0."""
    path = tmp_path / "held"
    running = queue.enqueue(HOLD, [str(path), 1.5])
    waiting = queue.enqueue(HOLD, [str(path), 0])
    with rq_worker() as process:
        assert wait_for_lines(path, 1, 30)
        process.send_signal(stop)
        assert process.wait(30) == 0
    assert queue.get_result(running).status is JobStatus.SUCCEEDED
    assert queue.get_result(waiting).status is JobStatus.QUEUED
    assert len(lines(path)) == 1


# -- the delivery guarantee: at-most-once ------------------------------------------------------


def test_stopped_or_killed_work_horse_fails_the_job_and_never_reruns_it(
    queue: RqQueue, client: redis.Redis, tmp_path: Path
) -> None:
    """A job stopped with rq's stop command, and one whose work horse is SIGKILLed, are FAILED
    and kept in the failed store; though rq holds retries for both, each ran exactly once."""
    stopped_path, killed_path = tmp_path / "stopped", tmp_path / "killed"
    stopped = queue.enqueue(HOLD_RETRIED, [str(stopped_path), 30])
    killed = queue.enqueue(HOLD_RETRIED, [str(killed_path), 30])
    after = queue.enqueue(SQUARE, [str(tmp_path / "after"), 3])
    with rq_worker():
        assert wait_for_lines(stopped_path, 1, 30)
        send_stop_job_command(client, stopped)
        assert wait_for_lines(killed_path, 1, 30)
        os.kill(int(lines(killed_path)[0]), signal.SIGKILL)
        assert queue.get_result(after).with_backend(queue).wait(timeout=30).return_value == 9
        time.sleep(0.5)  # room for a wrongful re-run to start
    for job_id, path, kind, reason in (
        (stopped, stopped_path, "JobStopped", "discarded"),
        (killed, killed_path, "WorkHorseKilled", "exhausted"),
    ):
        result = queue.get_result(job_id)
        assert result.status is JobStatus.FAILED and result.error is not None
        assert (result.error.type, result.attempts) == (kind, 1)
        assert len(lines(path)) == 1
        record = queue.failed.get(job_id)
        assert (record.reason, record.error.type) == (reason, kind)
    assert Job.fetch(stopped, connection=client).get_status() == "stopped"
    assert Job.fetch(killed, connection=client).get_status() == "failed"


def test_job_of_a_sigkilled_worker_is_abandoned_not_rerun(
    queue: RqQueue, client: redis.Redis, tmp_path: Path
) -> None:
    """Worker and work horse SIGKILLed mid-job: the job stays RUNNING until rq's abandoned-job
    cleanup (run here as `rq info` runs it, with plain rq classes) fails it; rq had retries left
    for it, yet no worker runs it again."""
    path = tmp_path / "held"
    job_id = queue.enqueue(HOLD_RETRIED, [str(path), 60])
    args = ["--backend", "rq", "--url", URL, *RQ_JOBS]
    worker = subprocess.Popen(
        [sys.executable, "-m", "queuekit", "worker", *args],
        env={**os.environ, **ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert wait_for_lines(path, 1, 30)
        os.kill(int(lines(path)[0]), signal.SIGKILL)  # the work horse (its own process group)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)  # the worker and its scheduler
        worker.wait(30)
    assert queue.get_result(job_id).status is JobStatus.RUNNING
    # rq treats a started job as abandoned once its heartbeat TTL (>= 60 s) lapses; move the
    # clock instead of waiting.
    StartedJobRegistry("default", connection=client).cleanup(timestamp=time.time() + 3600)
    result = queue.get_result(job_id)
    assert result.status is JobStatus.FAILED and result.error is not None
    assert result.error.type == "AbandonedJobError"
    assert Job.fetch(job_id, connection=client, serializer=JSONSerializer).retries_left == 0
    assert len(queue) == 0
    assert not [where for where, value in _every_value(client) if _pickled(value)]
    done = subprocess.run(
        [sys.executable, "-m", "queuekit", "worker", *args, "--burst"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **ENV},
    )
    assert done.returncode == 0, done.stderr
    assert len(lines(path)) == 1


def test_abandoned_job_lands_in_the_failed_store_where_queuekit_is_configured(
    queue: RqQueue, client: redis.Redis
) -> None:
    """rq's failure callback for an abandoned job, in a queuekit worker process, keeps the job
    in the failed store and zeroes rq's retries."""
    job_id = queue.enqueue(HOLD_RETRIED, ["/nonexistent", 1])
    set_worker_queue(queue)
    job = Job.fetch(job_id, connection=client)
    assert job.retries_left == 2
    on_failure(job, client, AbandonedJobError, AbandonedJobError(), None)
    assert job.retries_left == 0
    record = queue.failed.get(job_id)
    assert (record.reason, record.error.type, record.job_name) == (
        "exhausted",
        "AbandonedJobError",
        HOLD_RETRIED,
    )


# -- end to end ------------------------------------------------------------------------------


def test_500_jobs_run_exactly_once_with_results_by_id(queue: RqQueue, tmp_path: Path) -> None:
    """500 jobs (400 in one enqueue_many, 100 one by one) through an rq WorkerPool of two forking
    workers: each runs exactly once, and each id's result holds its own return value."""
    path = tmp_path / "ran"
    ids = queue.enqueue_many(SQUARE, [[str(path), n] for n in range(400)])
    ids += [queue.enqueue(SQUARE, [str(path), n]) for n in range(400, 500)]
    with rq_worker("-c", "2"):
        assert len(wait_for_lines(path, 500, 120)) >= 500
        wait_until(lambda: queue.get_result(ids[-1]).finished)
    ran = [int(line) for line in lines(path)]
    assert sorted(ran) == list(range(500))
    results = [queue.get_result(job_id) for job_id in ids]
    assert [r.status for r in results] == [JobStatus.SUCCEEDED] * 500
    assert [r.return_value for r in results] == [n * n for n in range(500)]
    assert len(queue) == 0


# -- Redis unreachable ------------------------------------------------------------------------


def test_unreachable_redis_is_a_clear_bounded_error() -> None:
    """A refused port, and a server that never answers, fail enqueue with RedisUnavailable naming
    the URL without its password, within the configured timeouts."""
    refused = RqQueue(url="redis://user:s3cret@127.0.0.1:1/2")
    conformance_jobs.register_jobs(refused)
    started = time.monotonic()
    with pytest.raises(RedisUnavailable) as caught:
        refused.enqueue(ADD, [1, 2])
    assert time.monotonic() - started < 5
    assert "Cannot enqueue: Redis at redis://user:***@127.0.0.1:1/2 did not answer" in str(
        caught.value
    )
    assert "s3cret" not in str(caught.value) and isinstance(caught.value, ConnectionError)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    mute = RqQueue(
        url=f"redis://:s3cret@127.0.0.1:{port}/2", socket_timeout=0.5, connect_timeout=0.5
    )
    conformance_jobs.register_jobs(mute)
    started = time.monotonic()
    try:
        with pytest.raises(RedisUnavailable, match=r"redis://:\*\*\*@127\.0\.0\.1:\d+/2.*Timeout"):
            mute.enqueue(ADD, [1, 2])
        assert time.monotonic() - started < 3
    finally:
        silent.close()
    done = subprocess.run(
        [
            *(sys.executable, "-m", "queuekit", "enqueue", ADD, "--args", "[1, 2]"),
            *("--backend", "rq", "--url", "redis://user:s3cret@127.0.0.1:1/2"),
            *("--app", "queuekit.testing.jobs:collector"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "Cannot enqueue: Redis at redis://user:***@127.0.0.1:1/2" in done.stderr
    assert "s3cret" not in done.stderr + done.stdout


# -- the distribution ------------------------------------------------------------------------


def test_wheel_declares_the_backend_and_its_engine(tmp_path: Path) -> None:
    """The queuekit-rq wheel ships the typed package only, requires queuekit, rq and redis with
    lower bounds, and declares `rq` in the queuekit.backends entry-point group."""
    import zipfile
    from email.parser import Parser

    done = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"),
            *("-w", str(tmp_path), str(TESTS.parent / "backends" / "rq")),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("queuekit_rq-0.1.0-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = Parser().parsestr(archive.read("queuekit_rq-0.1.0.dist-info/METADATA").decode())
        entry_points = archive.read("queuekit_rq-0.1.0.dist-info/entry_points.txt").decode()
    assert "queuekit_rq/py.typed" in names and "queuekit_rq/worker.py" in names
    assert not [n for n in names if not n.startswith(("queuekit_rq/", "queuekit_rq-0.1.0"))]
    assert (metadata["Name"], metadata["Version"]) == ("queuekit-rq", "0.1.0")
    assert sorted(metadata.get_all("Requires-Dist") or []) == [
        "queuekit",
        "redis>=5.0.1",
        "rq>=3.0",
    ]
    assert "[queuekit.backends]\nrq = queuekit_rq:RqQueue" in entry_points


def test_a_stop_signal_outside_rqs_loop_is_a_clean_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    """A warm-stop request that escapes rq's work loop (StopRequested) ends work() normally."""
    from queuekit_rq.worker import worker_class_for
    from rq import SimpleWorker
    from rq.exceptions import StopRequested
    from rq.worker import BaseWorker

    def stopped(self: Any, *args: Any, **kwargs: Any) -> bool:
        raise StopRequested()

    monkeypatch.setattr(BaseWorker, "work", stopped)
    worker = worker_class_for(SimpleWorker)(["default"], connection=redis.Redis.from_url(URL))
    assert worker.work(burst=True) is False
