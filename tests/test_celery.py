"""queuekit-celery beyond the conformance suite: configuration, the JSON-only wire, the broker
down at enqueue, and real worker processes (500 jobs, hard time limits, Celery's inspect, Flower,
warm shutdown, SIGKILL mid-job)."""

from __future__ import annotations

import base64
import json
import os
import pickle
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from celery import Celery  # type: ignore[import-untyped]
from kombu import Connection
from queuekit_celery import BrokerUnavailable, CeleryQueue

import queuekit
from queuekit import ConfigurationError, JobStatus, UnsupportedCapability, call
from queuekit.envelope import Envelope
from queuekit.registry import available_backends
from queuekit.testing.jobs import PREFIX
from queuekit.testing.jobs import collector as conformance_jobs
from queuekit.testing.process import worker_process

sys.path.insert(0, str(Path(__file__).parent))
import test_celery_jobs

REDIS_URL = "redis://127.0.0.1:6379/3"  # celery's database (see the brief's allocation)
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"
TESTS = str(Path(__file__).parent)
TOUCH, ECHO, ADD = PREFIX + "touch", PREFIX + "echo", PREFIX + "add"
MARKED, STUBBORN, RECORD = (
    "celerytest.marked_sleep",
    "celerytest.stubborn",
    "celerytest.record",
)


@pytest.fixture
def ns() -> Iterator[str]:
    """A per-test name: prefix of the Celery queues and of every key the test writes to Redis
    db 3, which are deleted afterwards (db 3 is never flushed, so concurrent runs never meet)."""
    import redis

    name = f"celery-{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"*{name}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def options_for(ns: str, url: str = REDIS_URL, **extra: Any) -> dict[str, Any]:
    """Queue options with results in db 3, everything named under ``ns``."""
    return {
        "url": url,
        "result_backend": REDIS_URL,
        "queue_prefix": f"{ns}.",
        "key_prefix": f"{ns}:queuekit",
        "result_backend_transport_options": json.dumps({"global_keyprefix": f"{ns}:"}),
        **extra,
    }


def delete_amqp(prefix: str, names: tuple[str, ...] = ("default", "other")) -> None:
    """Delete the per-test queues and exchanges Celery declared on RabbitMQ."""
    with Connection(AMQP_URL, connect_timeout=5) as conn:
        channel = conn.channel()
        for name in names:
            channel.queue_delete(f"{prefix}{name}")
            channel.exchange_delete(f"{prefix}{name}")


def make_queue(**options: Any) -> CeleryQueue:
    """A celery queue with both job collections registered."""
    queue = queuekit.create_queue(backend="celery", **options)
    assert isinstance(queue, CeleryQueue)
    conformance_jobs.register_jobs(queue)
    test_celery_jobs.collector.register_jobs(queue)
    return queue


def worker_args(options: dict[str, Any], *extra: str) -> list[str]:
    """`queuekit worker` arguments for ``options``, loading the test jobs."""
    args = ["--backend", "celery", "--app", "test_celery_jobs:collector"]
    for key, value in options.items():
        args += ["--url", value] if key == "url" else ["-o", f"{key}={value}"]
    return [*args, *extra]


JOBS_ENV = {"PYTHONPATH": os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")])}


@contextmanager
def spawn_worker(options: dict[str, Any], *extra: str) -> Iterator[subprocess.Popen[bytes]]:
    """A `queuekit worker` in its own session (so a test can SIGKILL the whole group)."""
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"celery-worker-{uuid.uuid4().hex}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "queuekit", "worker", *worker_args(options, *extra)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, **JOBS_ENV},
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        log.unlink(missing_ok=True)


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def wait_until(predicate: Any, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


# -- packaging and configuration (no worker) ---------------------------------------------------


def test_entry_point_names_the_distribution() -> None:
    """The 'celery' alias loads CeleryQueue from the queuekit-celery distribution."""
    assert queuekit.get_backend("celery") is CeleryQueue
    info = available_backends()["celery"]
    assert (info.distribution, info.version, info.importable) == ("queuekit-celery", "0.1.0", True)
    assert info.capabilities["results"] is True and info.capabilities["delivery"] == "at-most-once"


@pytest.mark.redis
def test_celery_settings_pass_through_and_json_is_forced() -> None:
    """Options named like Celery settings (with or without celery_) reach app.conf, as typed."""
    queue = make_queue(
        url=REDIS_URL,
        worker_prefetch_multiplier="4",
        celery_task_default_rate_limit="10/s",
        broker_transport_options='{"visibility_timeout": 7200}',
    )
    try:
        conf = queue.celery.conf
        assert conf.worker_prefetch_multiplier == 4
        assert conf.task_default_rate_limit == "10/s"
        assert conf.broker_transport_options["visibility_timeout"] == 7200
        assert conf.broker_transport_options["priority_steps"] == list(range(10))
        assert conf.accept_content == ["json"] and conf.task_serializer == "json"
        assert conf.result_accept_content == ["json"]
        task = queue.celery.tasks[TOUCH]
        assert task.name == TOUCH and task.serializer == "json" and task.ignore_result
    finally:
        queue.close()


def test_unknown_option_is_refused_with_a_suggestion() -> None:
    """A misspelt Celery setting is refused, suggesting the setting meant."""
    with pytest.raises(ConfigurationError, match="Did you mean 'worker_prefetch_multiplier'"):
        CeleryQueue(url=REDIS_URL, worker_prefetch_multiplyer=4)


@pytest.mark.parametrize(
    "setting",
    [{"task_serializer": "pickle"}, {"accept_content": '["json", "pickle"]'}],
)
def test_non_json_serializers_are_refused(setting: dict[str, str]) -> None:
    """Pickle in task_serializer or accept_content is refused, naming the setting."""
    key = next(iter(setting))
    with pytest.raises(ConfigurationError, match=f"{key}=.*JSON only"):
        CeleryQueue(url=REDIS_URL, **setting)


def test_supplied_app_accepting_pickle_is_refused() -> None:
    """An application's Celery app that accepts pickle is refused."""
    app = Celery("unsafe", broker=REDIS_URL, set_as_current=False)
    app.conf.accept_content = ["pickle", "json"]
    with pytest.raises(ConfigurationError, match=r"accept_content.*JSON only"):
        CeleryQueue(celery_app=app)


def test_rpc_result_backend_is_refused() -> None:
    """The rpc:// result backend is refused: results must be readable by id from anywhere."""
    with pytest.raises(ConfigurationError, match=r"rpc://.*redis:// or db"):
        CeleryQueue(url=AMQP_URL, result_backend="rpc://")


def test_other_brokers_are_refused_without_leaking_the_password() -> None:
    """A broker other than Redis or RabbitMQ is refused; its password never shows."""
    with pytest.raises(ConfigurationError, match="Redis and RabbitMQ") as caught:
        CeleryQueue(url="sqs://key:topsecret@sqs/")
    assert "topsecret" not in str(caught.value)


@pytest.mark.redis
def test_supplied_app_gets_one_task_per_job() -> None:
    """An existing Celery app (app= or celery_app=) receives one task per job, named after it."""
    app = Celery("mine", broker=REDIS_URL, backend=REDIS_URL, set_as_current=False)
    queue = CeleryQueue(app=app)
    conformance_jobs.register_jobs(queue)
    try:
        assert queue.celery is app and queue.supports_results
        assert {TOUCH, ECHO, ADD} <= set(app.tasks)
        assert app.tasks[ADD].name == ADD
        assert app.conf.result_extended is True
        with pytest.raises(ConfigurationError, match="cannot be combined with celery_app"):
            CeleryQueue(celery_app=app, url=REDIS_URL)
    finally:
        queue.close()


def test_without_result_backend_results_and_cancel_are_absent() -> None:
    """No result backend: this instance declares results and cancel absent, and refuses them."""
    queue = CeleryQueue(url=AMQP_URL)
    try:
        caps = queue.capabilities()
        assert (caps["results"], caps["cancel"]) == (False, False)
        # RabbitMQ only: nowhere to keep failed jobs or locks either.
        assert (caps["failed_store"], caps["unique"]) == (False, False)
        assert CeleryQueue.supports_results is True  # the class still offers it
        with pytest.raises(UnsupportedCapability, match="'celery' does not support results"):
            queue.get_result("0" * 32)
        with pytest.raises(UnsupportedCapability, match="cancel"):
            queue.cancel("0" * 32)
    finally:
        queue.close()
    on_redis = CeleryQueue(url=REDIS_URL)
    try:
        caps = on_redis.capabilities()
        assert (caps["results"], caps["failed_store"], caps["unique"]) == (False, True, True)
    finally:
        on_redis.close()


def test_acks_late_declares_at_least_once() -> None:
    """acks_late=true sets acks_late and reject_on_worker_lost on the tasks: at-least-once."""
    default = make_queue(url=REDIS_URL)
    late = make_queue(url=REDIS_URL, acks_late="true")
    try:
        assert default.delivery == "at-most-once"
        assert not default.celery.tasks[TOUCH].acks_late
        assert late.delivery == "at-least-once"
        task = late.celery.tasks[TOUCH]
        assert task.acks_late and task.reject_on_worker_lost
    finally:
        default.close()
        late.close()


def test_events_option_turns_on_celery_task_events() -> None:
    """events=true turns on the worker's task events and the sender's task-sent event."""
    default = make_queue(url=REDIS_URL)
    watched = make_queue(url=REDIS_URL, events="true")
    try:
        assert not default.celery.conf.worker_send_task_events
        assert not default.celery.conf.task_send_sent_event
        assert watched.celery.conf.worker_send_task_events is True
        assert watched.celery.conf.task_send_sent_event is True
    finally:
        default.close()
        watched.close()


def test_burst_is_refused_with_a_typed_error() -> None:
    """run_worker(burst=True) raises UnsupportedCapability naming --burst and the fix."""
    queue = make_queue(url=REDIS_URL)
    try:
        with pytest.raises(UnsupportedCapability, match=r"no burst mode.*without --burst.*SIGTERM"):
            queue.run_worker(burst=True)
    finally:
        queue.close()


def test_worker_burst_flag_is_a_clear_cli_error() -> None:
    """`queuekit worker --backend celery --burst` exits 2 with the sentence naming the flag and
    the fix, no traceback, before any connection is tried."""
    out = subprocess.run(
        [sys.executable, "-m", "queuekit", "worker", *worker_args({"url": REDIS_URL}), "--burst"],
        capture_output=True,
        text=True,
        env={**os.environ, **JOBS_ENV},
        timeout=60,
    )
    assert out.returncode == 2, out.stderr
    assert "queuekit worker: error: Celery's worker has no burst mode" in out.stderr
    assert "without --burst" in out.stderr and "SIGTERM" in out.stderr
    assert "Traceback" not in out.stderr


# -- the wire -------------------------------------------------------------------------------


@pytest.mark.redis
def test_redis_wire_is_json_and_priority_is_inverted(ns: str) -> None:
    """Raw Redis bytes: a JSON Celery message whose argument is the envelope; queuekit's
    priority 9 lands in kombu's highest list (its 0), priority 0 in its lowest (9)."""
    import redis

    queue = make_queue(**options_for(ns))
    client = redis.Redis.from_url(REDIS_URL)
    try:
        high = queue.enqueue(ECHO, [1, {"__type__": "datetime", "__value__": "x"}], priority=9)
        low = queue.enqueue(ECHO, ["low"])
        raw_high = client.lrange(f"{ns}.default", 0, -1)
        raw_low = client.lrange(f"{ns}.default\x06\x169", 0, -1)
        assert len(raw_high) == 1 and len(raw_low) == 1
        for raw, job_id in ((raw_high[0], high), (raw_low[0], low)):
            message = json.loads(raw)  # the whole stored item is JSON
            assert message["content-type"] == "application/json"
            assert message["headers"]["id"] == job_id and message["headers"]["task"] == ECHO
            assert message["properties"]["body_encoding"] == "base64"
            args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
            assert kwargs == {} and len(args) == 1 and isinstance(args[0], str)
            assert Envelope.decode(args[0]).id == job_id
        # kombu's JSON hooks never see the user's dict: it is inside the envelope's text.
        envelope = Envelope.decode(
            json.loads(base64.b64decode(json.loads(raw_high[0])["body"]))[0][0]
        )
        assert envelope.args[1] == {"__type__": "datetime", "__value__": "x"}
        record = json.loads(client.get(f"{ns}:celery-task-meta-{high}"))
        assert record["status"] == "SENT" and record["queuekit"]["job"] == ECHO
    finally:
        client.close()
        queue.close()


@pytest.mark.rabbitmq
def test_rabbitmq_wire_is_json_and_queues_declare_max_priority() -> None:
    """Raw RabbitMQ bytes: JSON with the envelope; the queue is declared x-max-priority 9."""
    from amqp.exceptions import PreconditionFailed

    prefix = f"celery-{uuid.uuid4().hex[:10]}."
    queue = make_queue(url=AMQP_URL, queue_prefix=prefix)
    try:
        job_id = queue.enqueue(ADD, [1, 2], priority=7)
        with Connection(AMQP_URL, connect_timeout=5) as conn:
            channel = conn.channel()
            message = channel.basic_get(f"{prefix}default", no_ack=True)
            assert message is not None
            assert message.content_type == "application/json"
            assert message.properties["priority"] == 7
            args, kwargs, _ = json.loads(message.body)
            assert Envelope.decode(args[0]).id == job_id and kwargs == {}
            with pytest.raises(PreconditionFailed, match="x-max-priority"):
                conn.channel().queue_declare(
                    f"{prefix}default",
                    durable=True,
                    auto_delete=False,
                    arguments={"x-max-priority": 5},
                )
    finally:
        queue.close()
        delete_amqp(prefix)


@pytest.mark.parametrize(
    "url",
    ["redis://:hunter2-secret@127.0.0.1:1/3", "amqp://guest:hunter2-secret@127.0.0.1:1//"],
)
def test_broker_down_at_enqueue_is_a_clear_bounded_error(url: str) -> None:
    """An unreachable broker fails enqueue with BrokerUnavailable naming the URL, without its
    password, within a bounded time."""
    queue = make_queue(url=url, connect_timeout="1")
    try:
        started = time.monotonic()
        with pytest.raises(BrokerUnavailable) as caught:
            queue.enqueue(ADD, [1, 2])
        elapsed = time.monotonic() - started
    finally:
        queue.close()
    message = str(caught.value)
    assert "127.0.0.1:1" in message and "***" in message
    assert "hunter2-secret" not in message and "hunter2-secret" not in repr(queue)
    assert isinstance(caught.value, queuekit.QueueError)
    assert elapsed < 15, elapsed


@pytest.mark.redis
def test_enqueue_many_uses_one_producer(monkeypatch: pytest.MonkeyPatch, ns: str) -> None:
    """A batch of 50 is sent through one producer (one pooled connection) and all arrive."""
    queue = make_queue(url=REDIS_URL, queue_prefix=f"{ns}.")
    acquired: list[object] = []
    original = queue.celery.producer_or_acquire

    def counting(producer: Any = None) -> Any:
        acquired.append(producer)  # Celery passes a given producer through this call too
        return original(producer)

    monkeypatch.setattr(queue.celery, "producer_or_acquire", counting)
    try:
        ids = queue.enqueue_many(ADD, [call(i, i) for i in range(50)])
        assert len(set(ids)) == 50
        assert acquired.count(None) == 1  # one producer taken from the pool ...
        # ... for every message (Celery's send_task passes it through producer_or_acquire)
        assert len({id(p) for p in acquired if p is not None}) <= 1
        assert queue.count() == 50
    finally:
        queue.close()


@pytest.mark.parametrize(
    ("url", "options"),
    [
        pytest.param(AMQP_URL, {}, marks=pytest.mark.rabbitmq, id="rabbitmq"),
        pytest.param(
            AMQP_URL,
            {"priority": 7, "timeout": 30, "queue": "other"},
            marks=pytest.mark.rabbitmq,
            id="rabbitmq-options",
        ),
        pytest.param(REDIS_URL, {}, marks=pytest.mark.redis, id="redis"),
        pytest.param(
            REDIS_URL,
            {"priority": 2, "timeout": 30, "queue": "other"},
            marks=pytest.mark.redis,
            id="redis-options",
        ),
    ],
)
def test_a_batch_message_is_the_message_enqueue_sends(
    url: str, options: dict[str, Any], ns: str
) -> None:
    """enqueue_many sends the Celery message enqueue sends (headers, properties, route, body),
    but for the job's id and arguments."""
    from celery.utils.saferepr import saferepr  # type: ignore[import-untyped]
    from kombu import Queue

    queue = make_queue(url=url, queue_prefix=f"{ns}.")
    name = f"{ns}.{options.get('queue', 'default')}"
    try:
        ids = [queue.enqueue(ADD, [1, 2], **options)]
        ids += queue.enqueue_many(ADD, [[3, 4], [5, 6], [7, 8]], **options)
        steps = {"priority_steps": list(range(10))}  # queuekit's ten Redis lists, on Redis
        with Connection(url, connect_timeout=5, transport_options=steps) as conn:
            source = Queue(name, channel=conn.default_channel, no_declare=True)
            messages = [source.get(no_ack=True) for _ in ids]
            assert source.get(no_ack=True) is None
    finally:
        queue.close()
        if url == AMQP_URL:
            delete_amqp(f"{ns}.")
    assert all(message is not None for message in messages)
    per_job = {"id", "root_id", "argsrepr"}
    seen = []
    for job_id, message in zip(ids, messages, strict=True):
        headers = dict(message.headers)
        assert headers["id"] == headers["root_id"] == message.properties["correlation_id"]
        args, kwargs, embed = json.loads(message.body)
        assert headers["argsrepr"] == saferepr(args, 1024) and kwargs == {}
        envelope = Envelope.decode(args[0])
        assert headers["id"] == envelope.id == job_id
        properties = {
            k: v
            for k, v in message.properties.items()
            if k not in ("correlation_id", "delivery_tag", "delivery_info", "application_headers")
        }
        route = {k: message.delivery_info.get(k) for k in ("exchange", "routing_key")}
        shape = {k: v for k, v in envelope.to_dict().items() if k not in ("id", "args")}
        shape.pop("enqueued_at", None)
        seen.append(
            (
                {k: v for k, v in headers.items() if k not in per_job},
                properties,
                route,
                message.content_type,
                message.content_encoding,
                kwargs,
                embed,
                shape,
            )
        )
    assert seen[1:] == [seen[0]] * 3
    headers = seen[0][0]
    assert headers["task"] == ADD and headers["retries"] == 0 and headers["ignore_result"]
    if "timeout" in options:
        assert headers["timelimit"][0] == 30 + queue.options["hard_timeout_grace"]


# -- real workers -----------------------------------------------------------------------------


@pytest.mark.redis
def test_worker_never_unpickles_a_message(tmp_path: Path, ns: str) -> None:
    """A pickle message for a registered job is refused undecoded; the worker goes on."""
    marker = tmp_path / "unpickled"
    options = options_for(ns, pool="solo")
    queue = make_queue(**options)

    class Exploit:
        def __reduce__(self) -> tuple[Any, ...]:
            return (open, (str(marker), "w"))

    rogue = Celery("rogue", broker=REDIS_URL, set_as_current=False)
    rogue.conf.update(task_serializer="pickle", accept_content=["pickle"])
    try:
        rogue.send_task(RECORD, args=[Exploit(), "x"], queue=f"{ns}.default", serializer="pickle")
        after = tmp_path / "after"
        job_id = queue.enqueue(RECORD, [str(after), "after"])
        with worker_process(worker_args(options), env=JOBS_ENV, stop_signal=signal.SIGKILL):
            assert queue.get_result(job_id).wait(timeout=30).succeeded
        assert lines(after) == ["after"] and not marker.exists()
        assert pickle.dumps(1)  # the test built a real pickle; nothing above loaded it
    finally:
        rogue.close()
        queue.close()


@pytest.mark.redis
class TestPreforkWorkerOnRedis:
    """One `queuekit worker` with Celery's prefork pool (2 processes) serves the whole class."""

    node: str

    @pytest.fixture(scope="class")
    def running(self, request: pytest.FixtureRequest) -> Iterator[CeleryQueue]:
        import redis

        name = f"celery-{uuid.uuid4().hex[:10]}"
        options = options_for(name, hard_timeout_grace="1")
        queue = make_queue(**options)
        with spawn_worker(options, "-c", "2", "-Q", "default,other") as process:
            # Its default node name: inspect asks this worker only (others may share db 3).
            request.cls.node = f"queuekit-{process.pid}@{socket.gethostname()}"
            yield queue
            assert process.poll() is None, "the worker died during the tests"
        queue.close()
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(f"*{name}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()

    def test_500_jobs_run_exactly_once_with_results(
        self, running: CeleryQueue, tmp_path: Path
    ) -> None:
        """500 jobs, in batches and singly, on two queues: each runs once; results by id."""
        path = tmp_path / "ran"
        ids = running.enqueue_many(RECORD, [[str(path), str(i)] for i in range(400)])
        ids += [
            running.enqueue(RECORD, [str(path), str(i)], queue="other") for i in range(400, 500)
        ]
        assert len(set(ids)) == 500
        for index, job_id in enumerate(ids):
            result = running.get_result(job_id).wait(timeout=60)
            assert (result.status, result.return_value) == (JobStatus.SUCCEEDED, str(index))
        assert sorted(lines(path), key=int) == [str(i) for i in range(500)]
        assert running.get_result(ids[-1]).queue == "other"

    def test_hard_time_limit_kills_a_job_that_ignores_the_soft_one(
        self, running: CeleryQueue, tmp_path: Path
    ) -> None:
        """A job swallowing queuekit's soft limit is killed by Celery's hard limit (timeout +
        hard_timeout_grace) and kept as failed."""
        path = tmp_path / "stubborn"
        job_id = running.enqueue(STUBBORN, [str(path), 30], timeout=0.5)
        result = running.get_result(job_id).wait(timeout=20)
        assert result.status is JobStatus.FAILED and result.error is not None
        assert "TimeLimitExceeded" in result.error.type
        assert "Celery killed its worker process" in result.error.message
        assert "soft limit ignored" in lines(path) and "done" not in lines(path)
        # The worker keeps the failed record just after it writes the job's final result.
        assert wait_until(lambda: job_id in {r.id for r in running.failed.list()}, timeout=10)
        assert running.failed.get(job_id).reason == "exhausted"

    def test_celery_inspect_sees_the_queuekit_tasks(self, running: CeleryQueue) -> None:
        """`celery inspect registered` and control.inspect() list the jobs as Celery tasks."""
        inspect = running.celery.control.inspect(timeout=5, limit=1, destination=[self.node])
        replies = inspect.registered() or {}
        assert any(MARKED in tasks and RECORD in tasks for tasks in replies.values()), replies
        out = subprocess.run(
            [sys.executable, "-m", "celery", "-b", REDIS_URL, "inspect", "registered", "-t", "2"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        assert RECORD in out.stdout and STUBBORN in out.stdout and "queuekit-" in out.stdout


FLOWER_AUTH = f"queuekit:{uuid.uuid4().hex}"


@pytest.fixture
def flower(tmp_path: Path) -> Iterator[str]:
    """Flower on the celery tests' Redis (db 3), on a port the OS picks, behind basic auth
    (its API refuses anonymous calls), with its periodic enable_events off so it sees only what
    a worker sends by itself; its base URL, and it is always stopped afterwards."""
    log = tmp_path / "flower.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWER_")}
    command = [sys.executable, "-m", "celery", "-b", REDIS_URL, "flower"]
    command += ["--address=127.0.0.1", "--port=0", "--enable_events=False"]
    command += [f"--basic_auth={FLOWER_AUTH}"]
    with log.open("wb") as sink:
        # cwd: Flower reads ./flowerconfig.py when there is one.
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, cwd=tmp_path, env=env
        )
    try:
        found: list[str] = []

        def listening() -> bool:
            text = log.read_text(errors="replace")
            found.extend(re.findall(r"Visit me at (http://127\.0\.0\.1:\d+)", text))
            return bool(found) or process.poll() is not None

        assert wait_until(listening, timeout=20) and found, (
            f"Flower did not start:\n{log.read_text()}"
        )
        yield found[0]
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def flower_api(base: str, path: str) -> Any:
    """GET Flower's JSON API at ``path``; None when Flower answers 404 (not seen yet)."""
    token = base64.b64encode(FLOWER_AUTH.encode()).decode()
    request = urllib.request.Request(base + path, headers={"Authorization": f"Basic {token}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


@pytest.mark.redis
def test_flower_reports_the_job_by_its_id(flower: str, tmp_path: Path, ns: str) -> None:
    """Flower, fed only by the events a worker started with events=true sends, reports a job
    by its queuekit id with the job's name, the worker and the final state SUCCESS."""
    worker = f"{ns}@flowertest"
    options = options_for(ns, pool="solo", events="true", worker_name=worker)
    queue = make_queue(**options)
    try:
        with worker_process(worker_args(options), env=JOBS_ENV, stop_signal=signal.SIGKILL):
            # Task events are not stored: enqueue once Flower hears this worker's heartbeat.
            assert wait_until(lambda: flower_api(flower, "/api/workers?status=true").get(worker))
            job_id = queue.enqueue(RECORD, [str(tmp_path / "ran"), "seen by flower"])
            assert queue.get_result(job_id).wait(timeout=20).succeeded
            seen: dict[str, Any] = {}

            def succeeded() -> bool:
                seen.update(flower_api(flower, f"/api/task/info/{job_id}") or {})
                return seen.get("state") == "SUCCESS"

            assert wait_until(succeeded, timeout=10), seen
            listed = flower_api(flower, f"/api/tasks?taskname={RECORD}&state=SUCCESS")
        assert (seen["uuid"], seen["name"], seen["worker"]) == (job_id, RECORD, worker)
        assert seen["result"] == "'seen by flower'" and seen["received"] and seen["succeeded"]
        assert listed[job_id]["name"] == RECORD and listed[job_id]["state"] == "SUCCESS"
    finally:
        queue.close()


@pytest.mark.redis
@pytest.mark.rabbitmq
def test_500_jobs_on_rabbitmq_run_exactly_once_with_results(tmp_path: Path, ns: str) -> None:
    """500 jobs through RabbitMQ (results in Redis) with a prefork worker: each runs once."""
    options = options_for(ns, AMQP_URL)
    queue = make_queue(**options)
    path = tmp_path / "ran"
    try:
        ids = queue.enqueue_many(RECORD, [[str(path), str(i)] for i in range(500)])
        with worker_process(worker_args(options, "-c", "2"), env=JOBS_ENV):
            for index, job_id in enumerate(ids):
                result = queue.get_result(job_id).wait(timeout=60)
                assert (result.status, result.return_value) == (JobStatus.SUCCEEDED, str(index))
        assert sorted(lines(path), key=int) == [str(i) for i in range(500)]
    finally:
        queue.close()
        delete_amqp(f"{ns}.")


@pytest.mark.redis
def test_sigterm_is_a_warm_shutdown(tmp_path: Path, ns: str) -> None:
    """SIGTERM during a job: Celery's warm shutdown lets it finish, then the worker exits 0."""
    options = options_for(ns)
    queue = make_queue(**options)
    path = tmp_path / "marks"
    try:
        job_id = queue.enqueue(MARKED, [str(path), 1.5])
        with spawn_worker(options, "-c", "1") as process:
            assert wait_until(lambda: any(x.startswith("start") for x in lines(path)))
            process.send_signal(signal.SIGTERM)
            assert process.wait(30) == 0
        assert [x.split()[0] for x in lines(path)] == ["start", "done"]
        assert queue.get_result(job_id).status is JobStatus.SUCCEEDED
    finally:
        queue.close()


@pytest.mark.redis
@pytest.mark.rabbitmq
@pytest.mark.parametrize("acks_late", [True, False], ids=["acks_late", "default"])
def test_sigkill_of_the_job_process_on_rabbitmq(acks_late: bool, tmp_path: Path, ns: str) -> None:
    """SIGKILL the process running a job: with acks_late it runs again (at-least-once); by
    default it is lost, recorded FAILED with WorkerLostError and kept (at-most-once)."""
    options = options_for(ns, AMQP_URL)
    if acks_late:
        options["acks_late"] = "true"
    queue = make_queue(**options)
    path = tmp_path / "marks"
    try:
        job_id = queue.enqueue(MARKED, [str(path), 1.0])
        with spawn_worker(options, "-c", "1"):
            assert wait_until(lambda: any(x.startswith("start") for x in lines(path)))
            os.kill(int(lines(path)[0].split()[1]), signal.SIGKILL)
            result = queue.get_result(job_id).wait(timeout=30)
            time.sleep(0.5)
        starts = [x for x in lines(path) if x.startswith("start")]
        dones = [x for x in lines(path) if x.startswith("done")]
        if acks_late:
            assert (len(starts), len(dones), result.status) == (2, 1, JobStatus.SUCCEEDED)
        else:
            assert (len(starts), len(dones), result.status) == (1, 0, JobStatus.FAILED)
            assert result.error is not None and "WorkerLostError" in result.error.type
            assert queue.failed.get(job_id).job_name == MARKED
    finally:
        queue.close()
        delete_amqp(f"{ns}.")


@pytest.mark.redis
@pytest.mark.rabbitmq
def test_sigkill_of_the_whole_worker_with_acks_late_redelivers(tmp_path: Path, ns: str) -> None:
    """SIGKILL a whole acks_late worker mid-job: RabbitMQ hands the job to the next worker."""
    options = options_for(ns, AMQP_URL, acks_late="true", pool="solo")
    queue = make_queue(**options)
    path = tmp_path / "marks"
    try:
        job_id = queue.enqueue(MARKED, [str(path), 1.0])
        with spawn_worker(options) as first:
            assert wait_until(lambda: any(x.startswith("start") for x in lines(path)))
            os.killpg(first.pid, signal.SIGKILL)
        with spawn_worker(options):
            result = queue.get_result(job_id).wait(timeout=30)
        starts = [x for x in lines(path) if x.startswith("start")]
        dones = [x for x in lines(path) if x.startswith("done")]
        assert (len(starts), len(dones), result.status) == (2, 1, JobStatus.SUCCEEDED)
    finally:
        queue.close()
        delete_amqp(f"{ns}.")
