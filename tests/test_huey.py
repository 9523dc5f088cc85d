"""The huey backend: conformance on real Redis (db 1) and on SqliteHuey, with `queuekit worker`
processes running huey's consumer; the JSON-only wire; configuration and errors."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
from huey.constants import EmptyData
from queuekit_huey import HueyConnectionError, HueyQueue

import queuekit
from queuekit import ConfigurationError, JobStatus, UnsupportedCapability
from queuekit.base import BaseQueue
from queuekit.testing.conformance import FAIL, TOUCH, QueueConformance
from queuekit.testing.jobs import PREFIX, collector
from queuekit.testing.process import worker_process

REDIS_URL = "redis://127.0.0.1:6379/1"  # db 1 belongs to the huey backend's tests
APP = ["--app", "queuekit.testing.jobs:collector"]
# huey polls an idle SQLite queue with backoff; keep the test workers' polls short.
FAST_POLL = ["-o", "initial_delay=0.05", "-o", "max_delay=0.2"]


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


@pytest.mark.redis
class TestHueyRedisConformance(QueueConformance):
    """Every conformance test on RedisHuey (the priority storage), worked by a child process."""

    @pytest.fixture(autouse=True)
    def _flushed(self, redis_db: redis.Redis) -> None:
        self.redis = redis_db

    def make_queue(self) -> BaseQueue:
        return queuekit.create_queue(backend="huey", url=REDIS_URL)

    @contextmanager
    def worker(self, queue: BaseQueue) -> Iterator[None]:
        with worker_process(["--backend", "huey", "--url", REDIS_URL, "-c", "1", *APP]):
            yield

    def inject_raw(self, queue: BaseQueue, data: bytes) -> None:
        assert isinstance(queue, HueyQueue)
        queue.huey.storage.enqueue(data)


class TestHueySqliteConformance(QueueConformance):
    """Every conformance test on SqliteHuey, worked by a child process polling the file."""

    @pytest.fixture(autouse=True)
    def _database(self, tmp_path: Path) -> None:
        self.url = f"sqlite://{tmp_path}/huey.db"

    def make_queue(self) -> BaseQueue:
        return queuekit.create_queue(backend="huey", url=self.url)

    @contextmanager
    def worker(self, queue: BaseQueue) -> Iterator[None]:
        args = ["--backend", "huey", "--url", self.url, "-c", "1", *FAST_POLL, *APP]
        with worker_process(args):
            yield

    def inject_raw(self, queue: BaseQueue, data: bytes) -> None:
        assert isinstance(queue, HueyQueue)
        queue.huey.storage.enqueue(data)


class TestHueyMemoryConformance(QueueConformance):
    """Every conformance test on MemoryHuey, with huey's consumer on threads of this process."""

    def make_queue(self) -> BaseQueue:
        return queuekit.create_queue("huey+memory://", immediate=False, max_delay=0.05)

    @contextmanager
    def worker(self, queue: BaseQueue) -> Iterator[None]:
        assert isinstance(queue, HueyQueue)
        with queue.consumer(workers=1):
            yield

    def inject_raw(self, queue: BaseQueue, data: bytes) -> None:
        assert isinstance(queue, HueyQueue)
        queue.huey.storage.enqueue(data)


# -- the wire ------------------------------------------------------------------------------------


def _every_stored_value(client: redis.Redis) -> list[tuple[bytes, bytes]]:
    """(key, raw bytes) of every value in the database, whatever its Redis type."""
    found: list[tuple[bytes, bytes]] = []
    for key in client.scan_iter():
        kind = client.type(key)
        if kind == b"string":
            found.append((key, client.get(key)))
        elif kind == b"hash":
            found.extend((key, value) for value in client.hgetall(key).values())
        elif kind == b"zset":
            found.extend((key, member) for member in client.zrange(key, 0, -1))
        elif kind == b"list":
            found.extend((key, item) for item in client.lrange(key, 0, -1))
        else:
            raise AssertionError(f"unexpected {kind!r} at {key!r}")
    return found


@pytest.mark.redis
@pytest.mark.parametrize("priority", [True, False], ids=["priority-zset", "plain-list"])
def test_nothing_in_redis_is_a_pickle(
    redis_db: redis.Redis, tmp_path: Path, priority: bool
) -> None:
    """Queued, scheduled, running, finished, failed, canceled and locked jobs leave only JSON."""
    queue = queuekit.create_queue(backend="huey", url=REDIS_URL, priority=priority)
    collector.register_jobs(queue)
    path = str(tmp_path / "f")
    queue.enqueue(TOUCH, [path, "now"])
    queue.enqueue(TOUCH, [path, "later"], delay=3600)
    queue.enqueue(PREFIX + "once", [path, "unique"])
    canceled = queue.enqueue(TOUCH, [path, "never"])
    assert queue.cancel(canceled)
    with worker_process(["--backend", "huey", "--url", REDIS_URL, "-o", f"priority={priority}"]):
        failed = queue.enqueue(FAIL, ["boom"])
        queue.get_result(failed).with_backend(queue).wait(20)
    queue.enqueue(TOUCH, [path, "waiting"])
    values = _every_stored_value(redis_db)
    kinds = {key.decode().split(".")[1] if key.startswith(b"huey.") else key for key, _ in values}
    assert {"redis", "schedule", "r"} <= kinds  # the queue, the schedule and the result store
    assert any(key.startswith(b"queuekit:huey:queuekit:failed") for key, _ in values)
    queue_key = b"huey.redis.queuekit"
    for key, raw in values:
        if key == queue_key and priority:
            raw = raw[8:]  # PriorityRedisHuey prefixes members with an 8-byte enqueue time
        assert not raw.startswith(b"\x80"), f"a pickle at {key!r}: {raw[:40]!r}"
        if key.startswith((b"queuekit:huey:queuekit:unique:", b"queuekit:huey:queuekit:failed:o")):
            assert len(raw) == 32 and raw.isalnum()  # a lock holder or failure order: a job id
            continue
        json.loads(raw)  # raises on anything that is not JSON
    queue.close()


@pytest.mark.redis
def test_a_task_message_is_the_envelope_plus_huey_fields(redis_db: redis.Redis) -> None:
    """The queued bytes are a queuekit envelope with huey's eta and priority under 'huey'."""
    queue = queuekit.create_queue(backend="huey", url=REDIS_URL, priority=False)
    collector.register_jobs(queue)
    job_id = queue.enqueue(PREFIX + "add", [1, 2])
    (raw,) = redis_db.lrange("huey.redis.queuekit", 0, -1)
    message = json.loads(raw)
    assert message["id"] == job_id and message["job"] == PREFIX + "add"
    assert (message["v"], message["args"], message["kwargs"]) == (1, [1, 2], {})
    assert message["huey"] == {"retries": 0, "retry_delay": 0}
    assert queuekit.Envelope.decode(raw).id == job_id
    queue.close()


@pytest.mark.parametrize("compression", [False, True], ids=["plain", "gzip"])
def test_the_fast_message_is_what_hueys_message_serializes_to(compression: bool) -> None:
    """envelope_message + serialize_plain write the bytes huey's Message path writes, and huey
    reads them back as the same task."""
    from datetime import datetime

    from huey.registry import Message
    from queuekit_huey.serializer import JSONSerializer, envelope_message

    serializer = JSONSerializer(compression)
    envelope = queuekit.Envelope(job="j", args=[1, "é"], options={"priority": 2}).to_dict()
    for eta, priority in ((None, None), (datetime(2030, 1, 2, 3, 4, 5, 6), 2)):
        message = Message(envelope["id"], "queuekit.j", eta, 0, 0, priority, (envelope,), {})
        fast = serializer.serialize_plain(envelope_message(envelope, eta, priority))
        assert serializer.deserialize(fast) == serializer.deserialize(serializer.serialize(message))
        if not compression:
            assert fast == serializer.serialize(message)


def test_pickled_message_is_never_unpickled(tmp_path: Path) -> None:
    """A pickle put on the queue (as an old privacyIDEA producer would) is refused, not loaded."""
    import pickle

    marker = tmp_path / "pwned"

    class Boom:
        def __reduce__(self) -> Any:
            return (open, (str(marker), "w"))

    queue = queuekit.create_queue("huey+memory://", immediate=False, max_delay=0.05)
    assert isinstance(queue, HueyQueue)
    collector.register_jobs(queue)
    queue.huey.storage.enqueue(pickle.dumps(Boom()))
    with queue.consumer():
        deadline = time.monotonic() + 10
        while not queue.failed.list() and time.monotonic() < deadline:
            time.sleep(0.02)
    (record,) = queue.failed.list()
    assert record.reason == "rejected" and "not valid JSON" in record.error.message
    assert not marker.exists()


# -- configuration -------------------------------------------------------------------------------


def test_entry_point_and_class_path_find_the_backend() -> None:
    """'huey' (entry point) and 'queuekit_huey.HueyQueue' (privacyIDEA-style path) both resolve."""
    assert queuekit.get_backend("huey") is HueyQueue
    assert queuekit.get_backend("queuekit_huey.HueyQueue") is HueyQueue
    info = queuekit.available_backends()["huey"]
    assert (info.distribution, info.importable) == ("queuekit-huey", True)


def test_url_picks_the_storage(tmp_path: Path) -> None:
    """redis:// is PriorityRedisHuey (or RedisHuey), sqlite:/// SqliteHuey, memory:// MemoryHuey."""
    from huey.storage import (
        MemoryStorage,
        PriorityRedisExpireStorage,
        RedisStorage,
        SqliteStorage,
    )

    cases = [
        ({"url": "redis://h:1/3"}, PriorityRedisExpireStorage),
        ({"url": "redis://h:1/3", "priority": "false", "result_ttl": "0"}, RedisStorage),
        ({"url": f"sqlite://{tmp_path}/a.db"}, SqliteStorage),
        ({"url": "memory://", "immediate": "false"}, MemoryStorage),
    ]
    for options, storage in cases:
        queue = HueyQueue(options)
        assert type(queue.huey.storage) is storage, options
        queue.close()
    sqlite = HueyQueue(url=f"sqlite://{tmp_path}/a.db", name="mail")
    assert sqlite.huey.storage.filename == f"{tmp_path}/a.db" and sqlite.huey.name == "mail"
    assert sqlite.capabilities()["bulk"] is True and sqlite.capabilities()["priority"] is True
    plain = HueyQueue(url="redis://h:1/3", priority=False)
    collector.register_jobs(plain)
    assert plain.capabilities()["priority"] is False
    with pytest.raises(UnsupportedCapability, match="priority"):
        plain.enqueue(PREFIX + "add", [1, 2], priority=1)


def test_huey_storage_options_pass_through_and_typos_are_refused(tmp_path: Path) -> None:
    """Storage options reach huey (client_name, journal_mode); a misspelt one names the fix."""
    queue = HueyQueue(url=f"sqlite://{tmp_path}/a.db", journal_mode="delete", cache_mb=2)
    assert queue.huey.storage._journal_mode == "delete" and queue.huey.storage._cache_mb == 2
    redis_queue = HueyQueue(host="127.0.0.1", port=6390, db=1, notify_result=True)
    assert (
        redis_queue.where == "redis://127.0.0.1:6390/1" and redis_queue.huey.storage.notify_result
    )
    with pytest.raises(ConfigurationError, match=r"'jurnal_mode'.*Did you mean 'journal_mode'"):
        HueyQueue(url=f"sqlite://{tmp_path}/a.db", jurnal_mode="wal")
    with pytest.raises(ConfigurationError, match="either as url= or as db"):
        HueyQueue(url="redis://h/0", db=2)
    with pytest.raises(ConfigurationError, match="socket_timeout=1 must be longer"):
        HueyQueue(url="redis://h/0", socket_timeout=1, read_timeout=1)
    with pytest.raises(ConfigurationError, match="redis://, rediss://, unix://, sqlite"):
        HueyQueue(url="amqp://user:hunter2@h/")


def test_immediate_mode_runs_jobs_inside_enqueue() -> None:
    """memory:// defaults to huey's immediate mode: the result is final when submit returns."""
    queue = queuekit.create_queue("huey+memory://")
    collector.register_jobs(queue)
    result = queue.submit(PREFIX + "add", [2, 3])
    assert (result.status, result.return_value) == (JobStatus.SUCCEEDED, 5)
    caps = queue.capabilities()
    assert (caps["delay"], caps["cancel"], caps["priority"]) == (False, False, False)
    with pytest.raises(UnsupportedCapability, match="separate worker"):
        queue.run_worker()


def test_engine_options_on_a_job_are_refused() -> None:
    """A huey-only option on @job is refused with the list of portable ones."""
    queue = queuekit.create_queue("huey+memory://")
    with pytest.raises(
        ConfigurationError, match=r"takes no engine options for job 'j' \(got expires\)"
    ):
        queue.register_job("j", len, expires=10)
    assert "j" not in queue.jobs


def test_named_queues_are_absent() -> None:
    """A worker for another queue, or counting one, names the missing capability."""
    queue = queuekit.create_queue("huey+memory://", immediate=False)
    with pytest.raises(UnsupportedCapability, match="named queues"):
        queue.run_worker(queues=["other"])
    with pytest.raises(UnsupportedCapability, match="named queues"):
        queue.count("other")


def test_unreachable_redis_fails_fast_naming_the_url_without_password() -> None:
    """Enqueue to a port nobody listens on raises HueyConnectionError, password redacted."""
    queue = queuekit.create_queue(
        backend="huey", url="redis://:s3cret-pw@127.0.0.1:1/1", socket_connect_timeout=2
    )
    collector.register_jobs(queue)
    started = time.monotonic()
    with pytest.raises(HueyConnectionError) as caught:
        queue.enqueue(PREFIX + "add", [1, 2])
    elapsed = time.monotonic() - started
    message = str(caught.value)
    assert "redis://:***@127.0.0.1:1/1" in message and "did not answer" in message
    assert "s3cret-pw" not in message and "s3cret-pw" not in repr(queue)
    assert isinstance(caught.value, queuekit.QueueError) and isinstance(caught.value, OSError)
    assert elapsed < 15, elapsed
    with pytest.raises(HueyConnectionError, match=r"redis://:\*\*\*@127\.0\.0\.1:1/1"):
        queue.get_result("0" * 32)


# -- mapped features beyond the conformance suite ------------------------------------------------


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[redis.Redis]:
    """A redis-server of this test's own, whose server-wide command counters no other client
    (a parallel test, a benchmark) moves; a client on its database 1."""
    import socket
    import subprocess

    for _ in range(5):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--dir", str(tmp_path)]
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        client = redis.Redis(port=port, db=1)
        deadline = time.monotonic() + 10
        while server.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(redis.ConnectionError):
                if client.ping():
                    break
            time.sleep(0.02)
        if server.poll() is None:
            break
    try:
        assert client.ping()
        yield client
    finally:
        client.close()
        server.terminate()
        server.wait(10)


@pytest.mark.redis
def test_enqueue_many_is_one_redis_transaction(private_redis: redis.Redis, tmp_path: Path) -> None:
    """50 jobs and their state records reach Redis in one MULTI/EXEC: one round trip."""
    port = private_redis.connection_pool.connection_kwargs["port"]
    queue = queuekit.create_queue(backend="huey", url=f"redis://127.0.0.1:{port}/1")
    collector.register_jobs(queue)

    def calls(name: str) -> int:
        stats = private_redis.info("commandstats")
        return int(stats.get(f"cmdstat_{name}", {}).get("calls", 0))

    before = {name: calls(name) for name in ("exec", "zadd", "set")}
    ids = queue.enqueue_many(TOUCH, [[str(tmp_path / "f"), str(i)] for i in range(50)])
    after = {name: calls(name) for name in ("exec", "zadd", "set")}
    assert after["exec"] - before["exec"] == 1
    assert (after["zadd"] - before["zadd"], after["set"] - before["set"]) == (50, 50)
    assert len(queue) == 50 and queue.get_result(ids[-1]).status is JobStatus.QUEUED
    queue.close()


@pytest.mark.redis
def test_enqueue_with_its_state_is_one_round_trip(
    redis_db: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A single enqueue writes the job's waiting state and its message in one round trip."""
    queue = queuekit.create_queue(backend="huey", url=REDIS_URL)
    assert isinstance(queue, HueyQueue)
    collector.register_jobs(queue)
    queue.enqueue(TOUCH, [str(tmp_path / "f"), "warm"])  # the pool's connection exists
    sent: list[object] = []
    connection_class = queue.huey.storage.pool.connection_class
    original = connection_class.send_packed_command

    def counting(self: object, command: object, check_health: bool = True) -> None:
        sent.append(command)
        original(self, command, check_health)

    monkeypatch.setattr(connection_class, "send_packed_command", counting)
    job_id = queue.enqueue(TOUCH, [str(tmp_path / "f"), "one"])
    later = queue.enqueue(TOUCH, [str(tmp_path / "f"), "later"], delay=60, priority=3)
    assert len(sent) == 2
    monkeypatch.undo()
    assert queue.get_result(job_id).status is JobStatus.QUEUED
    result = queue.get_result(later)
    assert (result.status, result.attempts, result.job_name) == (JobStatus.SCHEDULED, 0, TOUCH)
    assert queue.huey.pending_count() == 2 and queue.huey.scheduled_count() == 1
    queue.close()


@pytest.mark.redis
def test_a_worker_writes_two_keys_per_job_and_no_revocation_flags(
    private_redis: redis.Redis, tmp_path: Path
) -> None:
    """Per job a worker claims the attempt (the claim holds the running state) and writes the
    outcome; huey's revocation check and flag deletion are not used (cancel() claims)."""
    port = private_redis.connection_pool.connection_kwargs["port"]
    url = f"redis://127.0.0.1:{port}/1"
    queue = queuekit.create_queue(backend="huey", url=url)
    collector.register_jobs(queue)
    ids = [queue.enqueue(TOUCH, [str(tmp_path / "f"), str(i)]) for i in range(20)]

    def calls() -> dict[str, int]:
        stats = private_redis.info("commandstats")
        return {
            name: int(stats.get(f"cmdstat_{name}", {}).get("calls", 0))
            for name in ("set", "mget", "del", "hget", "get")
        }

    before = calls()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "queuekit",
            "worker",
            "--backend",
            "huey",
            "--url",
            url,
            "--burst",
            *APP,
        ],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    after = calls()
    delta = {name: after[name] - before[name] for name in after}
    assert delta == {"set": 40, "mget": 0, "del": 0, "hget": 0, "get": 0}
    assert all(queue.get_result(i).status is JobStatus.SUCCEEDED for i in ids)
    assert (tmp_path / "f").read_text().count("\n") == 20
    queue.close()


def test_sqlite_claims_go_with_the_outcome_and_canceled_jobs_leave_none(tmp_path: Path) -> None:
    """On SQLite (claims do not expire) a worker deletes each claim with the job's outcome
    record, and a canceled job's claim when it skips the job: nothing is left behind."""
    url = f"sqlite://{tmp_path}/h.db"
    queue = queuekit.create_queue(backend="huey", url=url)
    assert isinstance(queue, HueyQueue)
    collector.register_jobs(queue)
    ids = [queue.enqueue(TOUCH, [str(tmp_path / "f"), str(i)]) for i in range(3)]
    assert queue.cancel(ids[1])
    command = [sys.executable, "-m", "queuekit", "worker", "--backend", "huey", "--url", url]
    done = subprocess.run([*command, "--burst", *FAST_POLL, *APP], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    statuses = [queue.get_result(i).status for i in ids]
    assert statuses == [JobStatus.SUCCEEDED, JobStatus.CANCELED, JobStatus.SUCCEEDED]
    assert sorted(queue.huey.storage.result_items()) == sorted(ids)
    queue.close()


def test_a_claimed_job_shows_the_running_state_its_claim_holds(tmp_path: Path) -> None:
    """While a worker holds a job's claim, its state is the running record the claim holds,
    and the job can no longer be canceled."""
    queue = queuekit.create_queue(backend="huey", url=f"sqlite://{tmp_path}/h.db")
    assert isinstance(queue, HueyQueue)
    collector.register_jobs(queue)
    job_id = queue.enqueue(TOUCH, [str(tmp_path / "f"), "x"])
    started = time.time()
    running = {"id": job_id, "job_name": TOUCH, "status": "running", "queue": "default"}
    assert queue._claim(job_id, 1, {**running, "started_at": started, "attempts": 1})
    result = queue.get_result(job_id)
    assert (result.status, result.attempts) == (JobStatus.RUNNING, 1)
    assert result.started_at is not None and abs(result.started_at.timestamp() - started) < 1e-3
    assert queue.cancel(job_id) is False
    assert queue.huey.storage.peek_data(f"r:{job_id}") is EmptyData
    queue.close()


def test_cancel_and_a_worker_cannot_both_win_a_job(tmp_path: Path) -> None:
    """Whoever claims an attempt first decides: a taken job cannot be canceled, and a canceled
    job is skipped by a worker that already dequeued it."""
    queue = queuekit.create_queue(backend="huey", url=f"sqlite://{tmp_path}/h.db")
    assert isinstance(queue, HueyQueue)
    collector.register_jobs(queue)
    path = tmp_path / "ran"
    taken = queue.enqueue(TOUCH, [str(path), "taken"])
    assert queue._claim(taken, 1, "running")  # a worker got there first
    assert queue.cancel(taken) is False
    assert queue.get_result(taken).status is JobStatus.QUEUED
    canceled = queue.enqueue(TOUCH, [str(path), "canceled"])
    payload = queuekit.Envelope.decode(queue.huey.storage.enqueued_items()[-1]).to_dict()
    assert payload["id"] == canceled
    assert queue.cancel(canceled) is True
    queue._execute(payload)  # the worker's task body, as if it had dequeued the job just before
    assert not path.exists()
    assert queue.get_result(canceled).status is JobStatus.CANCELED
    queue.close()


def test_a_retry_keeps_the_error_and_counts_attempts(tmp_path: Path) -> None:
    """Between attempts the state is 'scheduled' with the last error; the retry is a message
    on huey's own schedule."""
    queue = queuekit.create_queue(backend="huey", url=f"sqlite://{tmp_path}/h.db")
    assert isinstance(queue, HueyQueue)
    collector.register_jobs(queue)
    job_id = queue.enqueue(PREFIX + "flaky", [str(tmp_path / "runs"), 5], backoff=60)
    message = queue.huey.storage.dequeue()  # as huey's worker does, then runs the task body
    queue._execute(json.loads(message))
    result = queue.get_result(job_id)
    assert (result.status, result.attempts) == (JobStatus.SCHEDULED, 1)
    assert result.error is not None and result.error.message == "flaky failure 1 of 5"
    (task,) = queue.huey.scheduled()
    assert task.id == job_id and task.args[0]["attempt"] == 2
    assert queue.huey.storage.queue_size() == 0 and len(queue) == 1
    queue.close()


def test_silent_redis_times_out_within_socket_timeout() -> None:
    """A server that accepts connections but never answers fails the enqueue after about
    socket_timeout, not never."""
    import socket

    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        queue = queuekit.create_queue(
            backend="huey", url=f"redis://u:pw@127.0.0.1:{port}/1", socket_timeout=1.5
        )
        collector.register_jobs(queue)
        started = time.monotonic()
        with pytest.raises(HueyConnectionError, match=rf"redis://u:\*\*\*@127\.0\.0\.1:{port}/1"):
            queue.enqueue(PREFIX + "add", [1, 2])
        assert time.monotonic() - started < 10
        queue.close()


def _outcome_delay(queue: HueyQueue, path: Path) -> float:
    """Run one job on an in-process worker; seconds from the job's end (its line in ``path``)
    until get_result shows its outcome."""
    collector.register_jobs(queue)
    with queue.consumer(workers=1):
        time.sleep(0.3)  # the worker is waiting on the idle queue
        job_id = queue.enqueue(TOUCH, [str(path), "x"])
        deadline = time.monotonic() + 10
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        ended = time.monotonic()
        while queue.get_result(job_id).status is not JobStatus.SUCCEEDED:
            assert time.monotonic() < deadline, "the job's outcome never became visible"
            time.sleep(0.005)
        return time.monotonic() - ended


@pytest.mark.redis
@pytest.mark.parametrize("max_tasks", [None, 1])
def test_an_outcome_sent_with_the_next_blocking_pop_is_visible_at_once(
    redis_db: redis.Redis, tmp_path: Path, max_tasks: int | None
) -> None:
    """A worker sends a job's outcome with its next blocking pop: the outcome is readable as
    soon as the job ends, not after the pop's 3 s wait, and is written when the worker thread
    stops right after the job (max_tasks=1)."""
    queue = queuekit.create_queue(
        backend="huey", url=REDIS_URL, read_timeout=3, socket_timeout=10, max_tasks=max_tasks
    )
    assert isinstance(queue, HueyQueue)
    assert _outcome_delay(queue, tmp_path / "f") < 1.0
    queue.close()


@pytest.mark.parametrize("max_tasks", [None, 1])
def test_an_outcome_written_with_the_next_sqlite_dequeue_is_visible_at_once(
    tmp_path: Path, max_tasks: int | None
) -> None:
    """On SQLite a worker writes a job's outcome in its next dequeue's transaction, which
    follows the job at once (not after the 3 s between polls of an idle queue), or when the
    worker thread stops right after the job (max_tasks=1)."""
    queue = queuekit.create_queue(
        backend="huey",
        url=f"sqlite://{tmp_path}/h.db",
        initial_delay=0.05,
        max_delay=3,
        poll_backoff=100,
        max_tasks=max_tasks,
    )
    assert isinstance(queue, HueyQueue)
    assert _outcome_delay(queue, tmp_path / "f") < 1.0
    queue.close()


def test_on_sqlite_a_waiting_job_has_no_record_and_is_claimed_as_it_is_taken(
    tmp_path: Path,
) -> None:
    """On SQLite enqueue writes only the job's message (its waiting state); a worker's
    dequeue takes the message and claims the job in one transaction, so get_result always
    finds the job: waiting, running or done; a job id in another job's arguments is not
    taken for that job's message."""
    queue = queuekit.create_queue(backend="huey", url=f"sqlite://{tmp_path}/h.db")
    assert isinstance(queue, HueyQueue)
    collector.register_jobs(queue)
    first = queue.enqueue(TOUCH, [str(tmp_path / "f"), "x"])
    second = queue.enqueue(TOUCH, [str(tmp_path / "f"), first])  # first's id in its arguments
    assert queue.huey.storage.result_store_size() == 0
    assert queue.get_result(first).status is JobStatus.QUEUED
    assert queue.get_result(second).status is JobStatus.QUEUED
    task = queue._dequeue_sqlite(queue.huey.dequeue)  # as a worker thread does
    assert task.args[0]["id"] == first and queue.huey.storage.queue_size() == 1
    result = queue.get_result(first)
    assert (result.status, result.attempts) == (JobStatus.RUNNING, 1)
    assert queue.cancel(first) is False
    queue.huey.execute(task)  # its outcome goes with the worker's next dequeue
    assert queue.get_result(first).status is JobStatus.RUNNING
    task = queue._dequeue_sqlite(queue.huey.dequeue)
    assert queue.get_result(first).status is JobStatus.SUCCEEDED
    assert queue.get_result(second).status is JobStatus.RUNNING
    queue.huey.execute(task)
    queue._write_deferred()  # as the worker thread does when it stops
    assert queue.get_result(second).status is JobStatus.SUCCEEDED
    assert sorted(queue.huey.storage.result_items()) == sorted([first, second])  # no claim left
    with pytest.raises(queuekit.ResultUnavailable):
        queue.get_result("0" * 32)
    queue.close()
