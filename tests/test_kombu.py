"""queuekit-kombu beyond the conformance suite: the wire, the broker's delay queues, the dead-letter
queue, graceful and ungraceful worker deaths, a broker restart, and the Redis and memory transports."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from queuekit_kombu import BrokerUnavailable, KombuQueue
from queuekit_kombu._topology import bucket_ms
from test_kombu_conformance import AMQP_URL, RESULT_URL, cleanup, new_namespace, publish_raw

import queuekit
from queuekit.envelope import Envelope
from queuekit.registry import available_backends
from queuekit.results import JobStatus
from queuekit.testing.jobs import PREFIX, collector
from queuekit.testing.process import worker_process

TOUCH, SLEEP = PREFIX + "touch", PREFIX + "sleep"
APP = ["--app", "queuekit.testing.jobs:collector"]


@pytest.fixture
def namespace() -> Iterator[str]:
    name = new_namespace()
    yield name
    cleanup(name)


def make(namespace: str, **options: Any) -> KombuQueue:
    queue = queuekit.create_queue(backend="kombu", url=AMQP_URL, namespace=namespace, **options)
    assert isinstance(queue, KombuQueue)
    collector.register_jobs(queue)
    return queue


def worker_args(namespace: str, *extra: str) -> list[str]:
    return ["--backend", "kombu", "--url", AMQP_URL, "-o", f"namespace={namespace}", *APP, *extra]


def get_raw(namespace: str, queue: str) -> Any:
    """Take one message off a RabbitMQ queue exactly as the broker stores it."""
    from kombu import Connection
    from kombu import Queue as KQueue

    with Connection(AMQP_URL, connect_timeout=5) as conn:
        return KQueue(f"{namespace}.{queue}", no_declare=True)(conn.channel()).get(no_ack=True)


def ready(namespace: str, queue: str) -> int:
    """Messages ready in a RabbitMQ queue (passive declare)."""
    from kombu import Connection

    with Connection(AMQP_URL, connect_timeout=5) as conn:
        _, count, _ = conn.channel().queue_declare(f"{namespace}.{queue}", passive=True)
        return int(count)


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    # The worker reads QUEUEKIT_* variables as options: the switch that enables the broker
    # restart test is not one.
    env = {k: v for k, v in os.environ.items() if k != "QUEUEKIT_RESTART_RABBITMQ"}
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "queuekit", "worker", *args], stdout=sink, stderr=sink, env=env
        )


# -- without a broker ---------------------------------------------------------------------------


def test_entry_point_names_the_distribution() -> None:
    """The alias 'kombu' resolves to KombuQueue from the queuekit-kombu distribution."""
    assert queuekit.get_backend("kombu") is KombuQueue
    info = available_backends()["kombu"]
    assert (info.distribution, info.version) == ("queuekit-kombu", "0.1.0")
    assert info.capabilities["delivery"] == "at-least-once"


def test_delay_buckets_are_powers_of_two_never_longer_than_the_wait() -> None:
    """Waits under 32 ms are held by the worker; longer ones take the largest bucket that fits."""
    assert bucket_ms(0.01) is None
    assert bucket_ms(0.05) == 32
    assert bucket_ms(1.0) == 512
    assert bucket_ms(1.024) == 1024
    assert bucket_ms(10**9) == 2**31


def test_priorities_are_clamped_to_the_queue_maximum() -> None:
    """priority= outside 0..max_priority is clamped; Redis's lower-first steps are inverted."""
    amqp = KombuQueue(url=AMQP_URL, max_priority=5)
    assert [amqp._wire_priority(p) for p in (-3, 0, 4, 99)] == [0, 0, 4, 5]
    on_redis = KombuQueue(url=RESULT_URL)
    assert [on_redis._wire_priority(p) for p in (0, 9, 20)] == [9, 0, 0]


def test_bad_url_and_options_are_refused_with_the_fix() -> None:
    """An unknown transport or a bad max_priority raises ConfigurationError without the password."""
    with pytest.raises(queuekit.ConfigurationError, match=r"kombu cannot use the URL") as info:
        KombuQueue(url="nosuch://user:hunter2@host/")
    assert "hunter2" not in str(info.value)
    with pytest.raises(queuekit.ConfigurationError, match="max_priority"):
        KombuQueue(url=AMQP_URL, max_priority=256)


def test_unreachable_broker_fails_fast_with_a_redacted_error() -> None:
    """Nothing listening: enqueue raises BrokerUnavailable naming the URL, not its password."""
    queue = KombuQueue(url="amqp://guest:s3cret@127.0.0.1:9//", publish_retries=1)
    collector.register_jobs(queue)
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable, match=r"127\.0\.0\.1:9") as info:
        queue.enqueue(PREFIX + "add", [1, 2])
    assert time.monotonic() - started < 15
    assert "s3cret" not in str(info.value) and "***" in str(info.value)
    assert isinstance(info.value, queuekit.QueueError)


# -- RabbitMQ ------------------------------------------------------------------------------------


@pytest.mark.rabbitmq
@pytest.mark.redis
def test_wire_holds_the_json_envelope_persistently(namespace: str) -> None:
    """The broker stores the envelope bytes as a persistent application/json message; Redis
    stores the state as JSON."""
    import redis

    queue = make(namespace, result_url=RESULT_URL)
    job_id = queue.enqueue(PREFIX + "add", [1, 2], priority=3)
    message = get_raw(namespace, "default")
    assert message.content_type == "application/json"
    assert message.properties["delivery_mode"] == 2 and message.properties["priority"] == 3
    sent = Envelope.decode(message.body)
    assert (sent.id, sent.job, sent.args) == (job_id, PREFIX + "add", [1, 2])
    assert message.body.encode() == sent.encode()  # py-amqp hands utf-8 bodies over as str
    client = redis.Redis.from_url(RESULT_URL)
    state = json.loads(client.get(f"queuekit:kombu:{namespace}:result:{job_id}"))
    assert (state["status"], state["job_name"]) == ("queued", PREFIX + "add")
    queue.close()


@pytest.mark.rabbitmq
def test_enqueue_many_confirms_the_whole_batch(namespace: str) -> None:
    """enqueue_many(300) returns once every message is confirmed: all 300 are in the queue."""
    queue = make(namespace)
    ids = queue.enqueue_many(PREFIX + "add", [[i, i] for i in range(300)])
    assert len(set(ids)) == 300
    assert len(queue) == ready(namespace, "default") == 300
    assert queue.enqueue_many(PREFIX + "add", [[1, 1]] * 2) and len(queue) == 302
    queue.close()


@pytest.mark.rabbitmq
@pytest.mark.redis
def test_delayed_job_waits_in_the_broker_not_in_a_worker(namespace: str, tmp_path: Path) -> None:
    """With no worker running, a delayed job sits in a TTL bucket queue, then moves to its work
    queue by dead-lettering; a worker started later runs it, never before its time."""
    queue = make(namespace, result_url=RESULT_URL)
    path = tmp_path / "stamp"
    before = time.time()
    job_id = queue.enqueue(PREFIX + "stamp", [str(path), "late"], delay=1.2)
    assert ready(namespace, "delay.1024") == 1 and len(queue) == 0
    assert queue.get_result(job_id).status is JobStatus.SCHEDULED
    wait_until(lambda: len(queue) == 1, 10, "the bucket to expire into the work queue")
    with worker_process(worker_args(namespace, "-o", f"result_url={RESULT_URL}")):
        result = queue.get_result(job_id).wait(timeout=20)
    assert result.status is JobStatus.SUCCEEDED
    assert float(lines(path)[0].split()[1]) >= before + 1.2 - 0.01
    queue.close()


@pytest.mark.rabbitmq
def test_refused_messages_land_in_the_dead_letter_queue(namespace: str, tmp_path: Path) -> None:
    """Garbage and an unregistered job are rejected into <namespace>.dead with their bytes
    intact, listed by the failed store, while the worker goes on with the next job."""
    queue = make(namespace)
    garbage = b"\xff not json"
    publish_raw(queue, garbage)
    stranger = Envelope(job="os.system", args=["echo pwned"])
    queue._send(stranger)
    path = tmp_path / "after"
    queue.enqueue(TOUCH, [str(path), "after"])
    with worker_process(worker_args(namespace)) as process:
        wait_until(lambda: lines(path) == ["after"], 20, "the job after the refused ones")
        assert process.poll() is None
    records = {r.id: r for r in queue.failed.list()}
    assert records[stranger.id].error.type == "UnknownJob"
    (refused,) = [r for r in records.values() if r.envelope is None]
    assert refused.error.type == "InvalidMessage" and "not valid JSON" in refused.error.message
    bodies = []
    for _ in range(2):
        message = get_raw(namespace, "dead")
        assert message.headers["x-death"][0]["reason"] == "rejected"
        assert message.headers["x-death"][0]["queue"] == f"{namespace}.default"
        body = message.body
        bodies.append(body.encode() if isinstance(body, str) else body)
    assert sorted(bodies) == sorted([garbage, stranger.encode()])
    queue.close()


@pytest.mark.rabbitmq
@pytest.mark.redis
def test_sigterm_finishes_the_job_in_hand_and_returns_the_rest(
    namespace: str, tmp_path: Path
) -> None:
    """SIGTERM lets the running job finish and be acknowledged; prefetched jobs go back."""
    queue = make(namespace, result_url=RESULT_URL)
    slow = queue.enqueue(SLEEP, [1.5])
    queue.enqueue_many(TOUCH, [[str(tmp_path / "later")]] * 5)
    with worker_process(worker_args(namespace, "-o", f"result_url={RESULT_URL}")):
        wait_until(
            lambda: queue.get_result(slow).status is JobStatus.RUNNING, 20, "the slow job to start"
        )
    # worker_process sent SIGTERM and checked that the worker exited cleanly.
    assert queue.get_result(slow).status is JobStatus.SUCCEEDED
    assert len(queue) == 5 and not (tmp_path / "later").exists()
    queue.close()


@pytest.mark.rabbitmq
def test_sigkill_mid_batch_loses_no_job(namespace: str, tmp_path: Path) -> None:
    """1000 jobs, the worker SIGKILLed 5 times mid-batch: every job runs; duplicates are counted."""
    queue = make(namespace)
    path = tmp_path / "done"
    total, kills = 1000, 5
    queue.enqueue_many(TOUCH, [[str(path), str(i)] for i in range(total)])
    log = tmp_path / "worker.log"
    for kill in range(kills):
        process = spawn(worker_args(namespace), log)
        target = (kill + 1) * total // (kills + 2)
        wait_until(lambda t=target: len(lines(path)) >= t, 60, f"{target} jobs")  # type: ignore[misc]
        process.kill()
        process.wait()
    with worker_process(worker_args(namespace)):
        wait_until(lambda: len(set(lines(path))) >= total, 60, "every job")
    done = lines(path)
    assert set(done) == {str(i) for i in range(total)}, log.read_text()
    duplicates = len(done) - total
    print(f"\nkombu SIGKILL test: {total} jobs, {kills} kills, {duplicates} duplicate runs")
    assert len(queue) == 0
    queue.close()


@pytest.mark.slow
@pytest.mark.rabbitmq
@pytest.mark.stops_services
@pytest.mark.skipif(
    not (os.environ.get("CI") or os.environ.get("QUEUEKIT_RESTART_RABBITMQ")),
    reason="restarts RabbitMQ, which breaks other suites using it at the same time; runs under "
    "CI (one suite at a time) or with QUEUEKIT_RESTART_RABBITMQ=1",
)
def test_broker_restart_mid_stream_loses_nothing(namespace: str, tmp_path: Path) -> None:
    """rabbitmqctl stop_app/start_app under load: enqueue fails fast with a clear error while
    the broker is down, the worker reconnects, and every accepted job runs."""
    queue = make(namespace, publish_retries=1, connect_timeout=2.0)
    path = tmp_path / "done"
    log = tmp_path / "worker.log"
    queue.enqueue_many(SLEEP, [[0.01]] * 100)
    accepted = [str(i) for i in range(100)]
    queue.enqueue_many(TOUCH, [[str(path), i] for i in accepted])
    process = spawn(worker_args(namespace, "-o", "reconnect_max=1"), log)
    try:
        wait_until(lambda: "prefetch" in log.read_text(), 20, "the worker to start")
        subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True, timeout=60)
        try:
            started = time.monotonic()
            with pytest.raises(BrokerUnavailable, match=r"127\.0\.0\.1:5672") as info:
                queue.enqueue(TOUCH, [str(path), "refused"])
            assert time.monotonic() - started < 20 and "guest:guest" not in str(info.value)
        finally:
            subprocess.run(
                ["rabbitmqctl", "start_app"], check=True, capture_output=True, timeout=120
            )
        more = [str(i) for i in range(100, 150)]
        queue.enqueue_many(TOUCH, [[str(path), i] for i in more])
        accepted += more
        wait_until(lambda: set(accepted) <= set(lines(path)), 90, "every accepted job")
        assert process.poll() is None
        assert "reconnecting" in log.read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    assert "refused" not in lines(path)
    assert process.returncode == 0, log.read_text()
    queue.close()


# -- other transports ------------------------------------------------------------------------------


@pytest.mark.redis
def test_redis_transport_runs_jobs_with_delay_priority_and_results(tmp_path: Path) -> None:
    """On redis:// the message is kombu's JSON wrapping the envelope; a burst worker in this
    process runs a batch, a delayed job after its time, and records results."""
    import redis

    name = new_namespace()
    queue = queuekit.create_queue(
        backend="kombu", url=RESULT_URL, namespace=name, result_url=RESULT_URL
    )
    collector.register_jobs(queue)
    client = redis.Redis.from_url(RESULT_URL)
    try:
        assert queue.capabilities()["priority"] and queue.capabilities()["bulk"]
        ids = queue.enqueue_many(PREFIX + "add", [[i, 1] for i in range(5)])
        # kombu keeps one list per priority step; priority 0 maps to its lowest step, 9.
        (key,) = client.scan_iter(f"{name}.default*")
        raw = client.lrange(key, 0, 0)[0]
        wrapped = json.loads(raw)
        assert wrapped["content-type"] == "application/json"
        assert json.loads(base64.b64decode(wrapped["body"]))["id"] in ids
        before = time.time()
        late = queue.enqueue(PREFIX + "add", [40, 2], delay=0.3, priority=9)
        queue.run_worker(burst=True)
        results = [queue.get_result(i) for i in [*ids, late]]
        assert [r.return_value for r in results] == [1, 2, 3, 4, 5, 42]
        assert results[-1].started_at is not None
        assert results[-1].started_at.timestamp() >= before + 0.3 - 0.01
    finally:
        queue.close()
        keys = [k for k in client.scan_iter(f"*{name}*", count=1000)]
        if keys:
            client.delete(*keys)
        client.close()


def test_memory_transport_narrows_its_capabilities(tmp_path: Path) -> None:
    """memory:// runs jobs in this process: no priority, no bulk, and at-most-once."""
    queue = queuekit.create_queue(backend="kombu", url="memory://", namespace=new_namespace())
    collector.register_jobs(queue)
    row = queue.capabilities()
    assert (row["priority"], row["bulk"], row["results"], row["delivery"]) == (
        False,
        False,
        False,
        "at-most-once",
    )
    path = tmp_path / "ran"
    queue.enqueue(TOUCH, [str(path), "memory"])
    queue.run_worker(burst=True)
    assert lines(path) == ["memory"]
    queue.close()


@pytest.mark.rabbitmq
@pytest.mark.redis
def test_concurrency_two_runs_two_jobs_at_once(namespace: str) -> None:
    """-c 2 -o prefetch=1 runs two consumers: two 1-second jobs start together."""
    queue = make(namespace, result_url=RESULT_URL)
    ids = [queue.enqueue(SLEEP, [1.0]) for _ in range(2)]
    extra = ["-o", f"result_url={RESULT_URL}", "-o", "prefetch=1", "-c", "2"]
    with worker_process(worker_args(namespace, *extra)):
        results = [queue.get_result(i).wait(timeout=20) for i in ids]
    assert all(r.status is JobStatus.SUCCEEDED for r in results)
    first, second = (r.started_at for r in results)
    assert first is not None and second is not None
    assert abs((first - second).total_seconds()) < 0.9
    queue.close()
