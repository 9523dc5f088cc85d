"""One suite per backend: queuekit and the engine it wraps, doing the same thing side by side.

Each suite says what it needs (modules, services), how each side sends one job, a batch, and
how each side's worker is started; ``run_suite`` measures them all in interleaved rounds.
Redis work happens in database 6 under names holding the run's random token; RabbitMQ queues
and exchanges are named ``bench-<token>-...``; everything is deleted at the end of the suite.
"""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
import socket
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _apps
from _harness import (
    HIGHER,
    LOWER,
    Marks,
    Report,
    Row,
    Target,
    compare,
    interleave,
    p99,
    python,
    subprocess_worker,
    timed,
    worker_env,
    worker_round,
)

REDIS_URL = "redis://127.0.0.1:6379/6"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"
JOB = _apps.JOB

#: The enqueue bar: time per call at most 1.05x the native call's; 1.10x is the floor.
ENQUEUE_TARGET = Target("ratio", 1.05, floor=1.10)
DRAIN_TARGET = Target("ratio", 1.0)


@dataclass
class Sizes:
    """How much each measure does per round, and how many rounds."""

    enqueue: int
    bulk: int
    batch: int
    drain: int
    samples: int
    rounds: int
    worker_rounds: int
    imports: int


FULL = Sizes(
    enqueue=20_000,
    bulk=20_000,
    batch=100,
    drain=5_000,
    samples=200,
    rounds=5,
    worker_rounds=3,
    imports=11,
)
QUICK = Sizes(
    enqueue=200, bulk=400, batch=100, drain=100, samples=10, rounds=2, worker_rounds=1, imports=3
)


@dataclass
class WorkerSide:
    """How one side queues jobs for a drain, probes an idle worker, and runs its worker."""

    label: str
    fill: Callable[[int, int], None]
    probe: Callable[[int, int], None]
    command: list[str] | None = None
    env: dict[str, str] | None = None
    #: In-process workers (memory): start() -> handle, stop(handle).
    start: Callable[[], Any] | None = None
    stop: Callable[[Any], None] | None = None
    purge: Callable[[], None] = lambda: None
    #: Jobs this side drains when fewer than the run's (a worker forking per job is slow).
    jobs: int | None = None


@dataclass
class Bulk:
    """A batch baseline: its label, the call, and the target queuekit's batch is held to."""

    label: str
    run: Callable[[int, int], None]
    target: Target | None = None


@dataclass
class Pair:
    """Another configuration measured on both sides, single enqueue against single enqueue
    (e.g. publisher confirms off on both): queuekit's ``ours(n, 0)``, the native ``theirs(n, 0)``."""

    label: str
    ours: Callable[[int, int], None]
    theirs: Callable[[int, int], None]
    baseline: str
    target: Target | None = None


class Suite:
    """A backend and its native library; subclasses fill in the sides."""

    name = ""
    modules: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    native: str = ""  # what the native single call is, for the table
    enqueue_target: Target | None = ENQUEUE_TARGET
    #: Absolute bars: queuekit's batch rate, its drain rate.
    bulk_absolute: Target | None = None
    bulk_over_single: Target | None = None
    drain_absolute: Target | None = None
    #: More than 1: queuekit's single enqueue and the native one (and each Pair) run in this
    #: many alternating slices within a round instead of one block each, so both sides meet the
    #: same broker (RabbitMQ's publisher confirms wait for its disk, whose speed drifts under
    #: a shared machine's load within the half minute one side's block takes).
    enqueue_slices = 1

    def __init__(self, token: str, workdir: Path) -> None:
        self.token = token
        self.workdir = workdir
        self.ids: list[str] = []  # rq job ids to delete afterwards
        self.queue: Any = None  # queuekit's queue, built by setup()
        self.task: Any = None  # the native single call (task(port, tag)), built by setup()

    def missing(self) -> str | None:
        """Why this suite cannot run here, or None."""
        for module in self.modules:
            try:
                found = module in sys.modules or importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                return f"{module} is not installed"
        for service in self.services:
            port = {"redis": 6379, "rabbitmq": 5672}[service]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                return f"{service} is not answering on 127.0.0.1:{port}"
        return None

    def setup(self) -> None: ...

    def teardown(self) -> None: ...

    def purge(self) -> None:
        """Empty every queue the single and batch measures filled (not timed)."""

    def qk_enqueue(self, n: int) -> None:
        one_at_a_time(self.queue, n)

    def native_enqueue(self, n: int) -> None:
        task = self.task
        for i in range(n):
            task(0, i)

    def qk_bulk(self, n: int, batch: int) -> None:
        in_batches(self.queue, n, batch)

    def bulk_baselines(self) -> list[Bulk]:
        return []

    def enqueue_baselines(self) -> list[Bulk]:
        """Other native single calls shown beside the main one (``run(n, 0)``), e.g. the engine
        as shipped when the main comparison gives it queuekit's delivery guarantee."""
        return []

    def enqueue_variants(self) -> list[Bulk]:
        """Other queuekit configurations whose single enqueue is held to the native call
        (``run(n, 0)`` sends ``n`` jobs one at a time)."""
        return []

    def bulk_variants(self) -> list[Bulk]:
        """Other queuekit configurations' batches, held to the same bars as the default's."""
        return []

    def enqueue_pairs(self) -> list[Pair]:
        """Single enqueues of another configuration on both sides, compared with each other."""
        return []

    def worker_sides(self) -> list[WorkerSide]:
        """queuekit's worker first, then the native worker, then any other comparison."""
        return []

    def worker_pairs(self) -> list[tuple[int, int, Target | None, str]]:
        """Drain rows: (our side, their side, target, what ours is) by index into
        ``worker_sides()``; latency and memory rows compare the first pair."""
        return [(0, 1, DRAIN_TARGET, "")]

    def qk_worker_command(self, backend: str, url: str, *options: str) -> list[str]:
        command = [python(), "-m", "queuekit", "worker", "--backend", backend, "--url", url]
        for option in options:
            command += ["-o", option]
        return [*command, "--app", "_apps:collector", "-c", "1", "--loglevel", "WARNING"]


def one_at_a_time(queue: Any, n: int) -> None:
    """``n`` trivial jobs, one ``enqueue`` call each."""
    enqueue = queue.enqueue
    for i in range(n):
        enqueue(JOB, (0, i))


def in_batches(queue: Any, n: int, batch: int) -> None:
    """``n`` trivial jobs in ``enqueue_many`` calls of ``batch``."""
    for chunk in _batches(n, batch):
        queue.enqueue_many(JOB, [(0, i) for i in chunk])


def fill(queue: Any) -> Callable[[int, int], None]:
    """A drain's fill for a queuekit queue: ``n`` marked jobs in batches of 500."""

    def run(n: int, port: int) -> None:
        calls = _marked(n, port)
        for chunk in _batches(n, 500):
            queue.enqueue_many(JOB, [calls[i] for i in chunk])

    return run


def _batches(n: int, batch: int) -> list[range]:
    return [range(start, min(start + batch, n)) for start in range(0, n, batch)]


def _marked(n: int, port: int) -> list[tuple[int, int]]:
    """The argument lists of a drain: the first job tagged 1, the last 2, the rest no-ops."""
    calls = [(0, 0)] * n
    calls[0], calls[-1] = (port, 1), (port, 2)
    return calls


def _envelope_bytes() -> bytes:
    """A representative message: queuekit's envelope of one no-op call (~190 bytes)."""
    from queuekit.envelope import Envelope

    return Envelope(job=JOB, args=[0, 12345]).encode()


# -- Redis helpers --------------------------------------------------------------------------------


def redis_client() -> Any:
    import redis

    return redis.Redis.from_url(REDIS_URL)


def delete_matching(client: Any, pattern: str) -> int:
    """Delete the keys of database 6 matching ``pattern`` (never a flush)."""
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=pattern, count=2000):
        batch.append(key)
        if len(batch) >= 1000:
            deleted += client.unlink(*batch)
            batch = []
    if batch:
        deleted += client.unlink(*batch)
    return deleted


def raw_lpush(client: Any, key: str) -> Bulk:
    """redis-py LPUSH of a prepared envelope, pipelined ``batch`` at a time: the floor."""
    body = _envelope_bytes()

    def run(n: int, batch: int) -> None:
        for chunk in _batches(n, batch):
            with client.pipeline(transaction=False) as pipe:
                for _ in chunk:
                    pipe.lpush(key, body)
                pipe.execute()

    return Bulk("raw LPUSH, pipelined", run)


def raw_amqp(queue: str) -> tuple[Bulk, Callable[[], None]]:
    """py-amqp basic_publish of a prepared envelope, no confirms (the transport's ceiling),
    to a plain durable queue; a passive declare at the end makes sure the broker has them."""
    import amqp  # type: ignore[import-untyped]

    conn = amqp.Connection("127.0.0.1:5672", userid="guest", password="guest")
    conn.connect()
    channel = conn.channel()
    channel.queue_declare(queue, durable=True, auto_delete=False)
    body = _envelope_bytes()

    def run(n: int, batch: int) -> None:
        for _ in range(n):
            channel.basic_publish(amqp.Message(body, delivery_mode=2), "", queue)
        channel.queue_declare(queue, passive=True)

    def close() -> None:
        with contextlib.suppress(Exception):
            channel.queue_delete(queue)
        with contextlib.suppress(Exception):
            conn.close()

    return Bulk("raw py-amqp publish, no confirms", run), close


# -- memory ---------------------------------------------------------------------------------------


class MemorySuite(Suite):
    name = "memory"
    native = "ThreadPoolExecutor.submit"
    #: No engine underneath: the stdlib pool does not validate or encode, so no bar applies.
    enqueue_target = None

    def worker_pairs(self) -> list[tuple[int, int, Target | None, str]]:
        return [(0, 1, None, "")]

    def setup(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from queuekit.backends.memory import MemoryQueue

        self.queue = _apps.collector.register_jobs(MemoryQueue())
        self.pool = ThreadPoolExecutor(4)

    def teardown(self) -> None:
        self.queue.close()
        self.pool.shutdown()

    def purge(self) -> None:
        self.queue.join(60)
        self.pool.submit(int).result()

    def native_enqueue(self, n: int) -> None:
        submit, noop = self.pool.submit, _apps.noop
        for i in range(n):
            submit(noop, 0, i)

    def bulk_baselines(self) -> list[Bulk]:
        def run(n: int, batch: int) -> None:
            for chunk in _batches(n, batch):
                self.pool.map(_apps.noop, [0] * len(chunk), chunk)

        return [Bulk("ThreadPoolExecutor.map", run)]

    def worker_sides(self) -> list[WorkerSide]:
        from concurrent.futures import ThreadPoolExecutor
        from threading import Event

        from queuekit.backends.memory import MemoryQueue

        state: dict[str, Any] = {}

        def qk_fill(n: int, port: int) -> None:
            state["qk"] = _apps.collector.register_jobs(MemoryQueue(concurrency=1, autostart=False))
            for chunk in _batches(n, 500):
                state["qk"].enqueue_many(JOB, [_marked(n, port)[i] for i in chunk])

        def qk_start() -> Any:
            state["qk"].start()
            return state["qk"]

        def native_fill(n: int, port: int) -> None:
            pool, gate = ThreadPoolExecutor(1), Event()
            pool.submit(gate.wait)
            for port_, tag in _marked(n, port):
                pool.submit(_apps.noop, port_, tag)
            state["pool"], state["gate"] = pool, gate

        def native_start() -> Any:
            state["gate"].set()
            return state["pool"]

        return [
            WorkerSide(
                "queuekit memory, 1 thread",
                qk_fill,
                lambda port, tag: state["qk"].enqueue(JOB, (port, tag)),
                start=qk_start,
                stop=lambda q: q.close(),
            ),
            WorkerSide(
                "ThreadPoolExecutor(1)",
                native_fill,
                lambda port, tag: state["pool"].submit(_apps.noop, port, tag),
                start=native_start,
                stop=lambda pool: pool.shutdown(),
            ),
        ]


# -- sqlite ---------------------------------------------------------------------------------------


class _RawSqlite:
    """sqlite3 INSERTs of a prepared message into a one-table file (WAL, synchronous=NORMAL,
    as queuekit's sqlite backend configures): the floor for SQLite batches."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY, message TEXT NOT NULL)")
        self.body = _envelope_bytes().decode()

    def bulk(self) -> Bulk:
        def run(n: int, batch: int) -> None:
            for chunk in _batches(n, batch):
                self.conn.execute("BEGIN IMMEDIATE")
                self.conn.executemany(
                    "INSERT INTO jobs (message) VALUES (?)", [(self.body,)] * len(chunk)
                )
                self.conn.execute("COMMIT")

        return Bulk("raw sqlite3 executemany, 1 transaction", run)

    def single(self) -> Bulk:
        def run(n: int, batch: int) -> None:
            execute, row = self.conn.execute, (self.body,)
            for _ in range(n):
                execute("INSERT INTO jobs (message) VALUES (?)", row)

        return Bulk("raw sqlite3 INSERT, autocommit (the floor)", run)

    def purge(self) -> None:
        self.conn.execute("DELETE FROM jobs")

    def close(self) -> None:
        self.conn.close()


class SqliteSuite(Suite):
    name = "sqlite"
    modules = ("huey",)
    native = "huey SqliteHuey task(), WAL + synchronous=NORMAL"
    drain_absolute = Target("absolute", 1000.0, note="(the sqlite default)")

    def setup(self) -> None:
        from queuekit.backends.sqlite import SqliteQueue

        self.qk_path = self.workdir / "qk-sqlite.db"
        self.huey_url = f"sqlite://{self.workdir / 'huey.db'}"
        self.queue = _apps.collector.register_jobs(SqliteQueue(path=str(self.qk_path)))
        # huey commits with SQLite's default synchronous=FULL (a sync per job); queuekit's
        # sqlite backend runs WAL with synchronous=NORMAL, and so does huey here, like for like.
        self.huey = _apps.make_huey(self.huey_url, f"bench-{self.token}", "NORMAL")
        self.task = self.huey.noop
        self.raw = _RawSqlite(self.workdir / "raw.db")

    def teardown(self) -> None:
        self.queue.close()
        self.huey.storage.close()
        self.raw.close()

    def purge(self) -> None:
        self.queue.purge()
        self.huey.flush()
        self.raw.purge()

    def bulk_baselines(self) -> list[Bulk]:
        return [self.raw.bulk()]

    def enqueue_baselines(self) -> list[Bulk]:
        return [self.raw.single()]

    def worker_sides(self) -> list[WorkerSide]:
        def huey_fill(n: int, port: int) -> None:
            for call in _marked(n, port):
                self.task(*call)

        return [
            WorkerSide(
                "queuekit worker -c 1",
                fill(self.queue),
                lambda port, tag: self.queue.enqueue(JOB, (port, tag)),
                command=self.qk_worker_command("sqlite", f"sqlite://{self.qk_path}"),
                purge=self.queue.purge,
            ),
            WorkerSide(
                "huey_consumer -w 1",
                huey_fill,
                lambda port, tag: self.task(port, tag),
                command=[python(), "-m", "huey.bin.huey_consumer", "_apps.huey", "-w", "1", "-q"],
                env={
                    "BENCH_HUEY_URL": self.huey_url,
                    "BENCH_HUEY_NAME": f"bench-{self.token}",
                    "BENCH_HUEY_SYNCHRONOUS": "NORMAL",
                },
                purge=self.huey.flush,
            ),
        ]


# -- huey -----------------------------------------------------------------------------------------


class HueySuite(Suite):
    modules = ("queuekit_huey", "huey")
    native = "huey task()"
    storage = "redis"

    def setup(self) -> None:
        import queuekit

        self.qk_name = f"bench-{self.token}-qk"
        self.native_name = f"bench-{self.token}-huey"
        if self.storage == "redis":
            self.qk_url = self.native_url = REDIS_URL
            self.client = redis_client()
        else:
            self.qk_url = f"sqlite://{self.workdir / 'qk-huey.db'}"
            self.native_url = f"sqlite://{self.workdir / 'huey.db'}"
            self.raw = _RawSqlite(self.workdir / "raw.db")
        self.queue = _apps.collector.register_jobs(
            queuekit.create_queue(backend="huey", url=self.qk_url, name=self.qk_name)
        )
        # The same queue without job state: one write per job, as huey's own task() does.
        self.lean_url = self.qk_url.replace("qk-huey.db", "qk-huey-lean.db")
        self.lean = _apps.collector.register_jobs(
            queuekit.create_queue(
                backend="huey", url=self.lean_url, name=f"{self.qk_name}-lean", results=False
            )
        )
        self.huey = _apps.make_huey(self.native_url, self.native_name)
        self.task = self.huey.noop

    def teardown(self) -> None:
        self.queue.close()
        self.lean.close()
        self.huey.storage.close()
        if self.storage == "redis":
            delete_matching(self.client, f"*{self.token}*")
            self.client.close()
        else:
            self.raw.close()

    def purge(self) -> None:
        if self.storage == "redis":
            delete_matching(self.client, f"*{self.token}*")
        else:
            self.queue.huey.flush()  # type: ignore[attr-defined]
            self.lean.huey.flush()  # type: ignore[attr-defined]
            self.huey.flush()
            self.raw.purge()

    def bulk_baselines(self) -> list[Bulk]:
        if self.storage == "redis":
            return [raw_lpush(self.client, f"bench-{self.token}-{self.name}-raw")]
        return [self.raw.bulk()]

    def enqueue_variants(self) -> list[Bulk]:
        return [Bulk("results=false", lambda n, _: one_at_a_time(self.lean, n), ENQUEUE_TARGET)]

    def bulk_variants(self) -> list[Bulk]:
        return [Bulk("results=false", lambda n, batch: in_batches(self.lean, n, batch))]

    def worker_sides(self) -> list[WorkerSide]:
        def huey_fill(n: int, port: int) -> None:
            for call in _marked(n, port):
                self.task(*call)

        return [
            WorkerSide(
                "queuekit worker -c 1",
                fill(self.queue),
                lambda port, tag: self.queue.enqueue(JOB, (port, tag)),
                command=self.qk_worker_command("huey", self.qk_url, f"name={self.qk_name}"),
                purge=self.purge,
            ),
            WorkerSide(
                "huey_consumer -w 1",
                huey_fill,
                lambda port, tag: self.task(port, tag),
                command=[python(), "-m", "huey.bin.huey_consumer", "_apps.huey", "-w", "1", "-q"],
                env={"BENCH_HUEY_URL": self.native_url, "BENCH_HUEY_NAME": self.native_name},
                purge=self.purge,
            ),
            WorkerSide(
                "queuekit worker -c 1, results=false",
                fill(self.lean),
                lambda port, tag: self.lean.enqueue(JOB, (port, tag)),
                command=self.qk_worker_command(
                    "huey", self.lean_url, f"name={self.qk_name}-lean", "results=false"
                ),
                purge=self.purge,
            ),
        ]

    def worker_pairs(self) -> list[tuple[int, int, Target | None, str]]:
        return [*super().worker_pairs(), (2, 1, DRAIN_TARGET, "results=false")]


class HueyRedisSuite(HueySuite):
    name = "huey-redis"
    modules = (*HueySuite.modules, "redis")
    services = ("redis",)
    native = "huey PriorityRedisExpireHuey task()"
    bulk_absolute = Target("absolute", 20_000.0)


class HueySqliteSuite(HueySuite):
    name = "huey-sqlite"
    storage = "sqlite"
    native = "huey SqliteHuey task()"


# -- rq -------------------------------------------------------------------------------------------


class RqSuite(Suite):
    name = "rq"
    modules = ("queuekit_rq", "rq", "redis")
    services = ("redis",)
    native = "rq Queue.enqueue (JSON serializer)"

    def setup(self) -> None:
        from queuekit_rq import RqQueue
        from rq import Queue
        from rq.serializers import JSONSerializer

        self.client = redis_client()
        self.qk_name = f"bench-{self.token}-qk"
        self.native_name = f"bench-{self.token}-rq"
        self.queue = _apps.collector.register_jobs(
            RqQueue(url=REDIS_URL, default_queue=self.qk_name, worker_class="rq.SimpleWorker")
        )
        self.rq = Queue(self.native_name, connection=self.client, serializer=JSONSerializer)
        self.Queue = Queue

    def teardown(self) -> None:
        with contextlib.suppress(Exception):  # a broker that went away must not stop the rest
            self.purge()
        for start in range(0, len(self.ids), 500):
            keys = []
            for job_id in self.ids[start : start + 500]:
                keys += [f"rq:job:{job_id}", f"rq:results:{job_id}"]
            self.client.unlink(*keys)
        delete_matching(self.client, f"*{self.token}*")
        self.client.srem("rq:queues", f"rq:queue:{self.qk_name}", f"rq:queue:{self.native_name}")
        self.queue.close()
        self.client.close()

    def purge(self) -> None:
        self.queue.rq_queue().empty()
        self.rq.empty()
        delete_matching(self.client, f"bench-{self.token}-{self.name}-raw")

    def native_enqueue(self, n: int) -> None:
        enqueue = self.rq.enqueue
        for i in range(n):
            enqueue("_apps.noop", 0, i)

    def bulk_baselines(self) -> list[Bulk]:
        prepare = self.Queue.prepare_data

        def native(n: int, batch: int) -> None:
            for chunk in _batches(n, batch):
                self.rq.enqueue_many([prepare("_apps.noop", (0, i)) for i in chunk])

        return [
            Bulk("rq Queue.enqueue_many", native, Target("ratio", 1.0)),
            raw_lpush(self.client, f"bench-{self.token}-{self.name}-raw"),
        ]

    def worker_sides(self) -> list[WorkerSide]:
        prepare = self.Queue.prepare_data

        def qk_fill(n: int, port: int) -> None:
            calls = _marked(n, port)
            for chunk in _batches(n, 500):
                self.ids += self.queue.enqueue_many(JOB, [calls[i] for i in chunk])

        def rq_fill(n: int, port: int) -> None:
            calls = _marked(n, port)
            for chunk in _batches(n, 500):
                jobs = self.rq.enqueue_many([prepare("_apps.noop", calls[i]) for i in chunk])
                self.ids += [job.id for job in jobs]

        def qk_probe(port: int, tag: int) -> None:
            self.ids.append(self.queue.enqueue(JOB, (port, tag)))

        def rq_probe(port: int, tag: int) -> None:
            self.ids.append(self.rq.enqueue("_apps.noop", port, tag).id)

        rq = str(Path(python()).with_name("rq"))

        def native(worker_class: str) -> list[str]:
            # rq's worker as queuekit runs it: with its scheduler (delays, retries), logging at
            # WARNING (--quiet; queuekit's worker runs with --loglevel WARNING).
            command = [rq, "worker", "--url", REDIS_URL, "-w", worker_class, "-S", "json"]
            return [*command, "--with-scheduler", "--quiet", self.native_name]

        def qk(worker_class: str) -> list[str]:
            return self.qk_worker_command(
                "rq", REDIS_URL, f"default_queue={self.qk_name}", f"worker_class={worker_class}"
            )

        return [
            WorkerSide(
                "queuekit worker -c 1 (SimpleWorker)",
                qk_fill,
                qk_probe,
                command=qk("rq.SimpleWorker"),
                purge=self.purge,
            ),
            WorkerSide(
                "rq worker -w SimpleWorker",
                rq_fill,
                rq_probe,
                command=native("rq.SimpleWorker"),
                purge=self.purge,
            ),
            # rq.Worker forks a work horse per job (about 40 jobs/s): a tenth of the jobs.
            WorkerSide(
                "queuekit worker -c 1 (rq.Worker, queuekit's default)",
                qk_fill,
                qk_probe,
                command=qk("rq.Worker"),
                purge=self.purge,
                jobs=500,
            ),
            WorkerSide(
                "rq worker (rq.Worker, forking)",
                rq_fill,
                rq_probe,
                command=native("rq.Worker"),
                purge=self.purge,
                jobs=500,
            ),
        ]

    def worker_pairs(self) -> list[tuple[int, int, Target | None, str]]:
        return [*super().worker_pairs(), (2, 3, DRAIN_TARGET, "forking (queuekit's default)")]


# -- celery ---------------------------------------------------------------------------------------


def _celery_command(
    broker: str, queue: str, max_priority: int | None = None
) -> tuple[list[str], dict[str, str]]:
    command = [python(), "-m", "celery", "-A", "_apps:celery_app", "worker", "-c", "1"]
    command += ["-Q", queue, "--without-gossip", "--without-mingle", "--without-heartbeat"]
    command += ["--loglevel", "WARNING"]
    env = {"BENCH_CELERY_BROKER": broker, "BENCH_CELERY_QUEUE": queue}
    if max_priority:
        env["BENCH_CELERY_MAX_PRIORITY"] = str(max_priority)
    return command, env


def _purge_queues(conn_factory: Callable[[], Any], names: list[str]) -> None:
    with conn_factory() as conn:
        channel = conn.channel()
        for name in names:
            with contextlib.suppress(Exception):
                channel.queue_purge(name)


def _delete_amqp(queues: list[str], exchanges: list[str]) -> None:
    from kombu import Connection

    with Connection(AMQP_URL) as conn:
        for name in queues:
            with contextlib.suppress(Exception):
                conn.channel().queue_delete(name)
        for name in exchanges:
            with contextlib.suppress(Exception):
                conn.channel().exchange_delete(name)


class CelerySuite(Suite):
    modules = ("queuekit_celery", "celery")
    native = "celery task.delay()"
    broker = REDIS_URL

    @property
    def amqp(self) -> bool:
        return self.broker.startswith("amqp")

    @property
    def max_priority(self) -> int | None:
        """queuekit-celery declares its RabbitMQ queues with x-max-priority 9 (priorities are
        one of its capabilities); the native app declares the same kind of queue, as the kombu
        suite does: a priority queue costs RabbitMQ more per message than a plain one."""
        return 9 if self.amqp else None

    def enqueue_baselines(self) -> list[Bulk]:
        if not self.amqp:
            return []

        def run(n: int, batch: int) -> None:
            delay = self.shipped.tasks[JOB].delay
            for i in range(n):
                delay(0, i)

        return [Bulk("celery task.delay() as shipped (no confirms, plain queue)", run)]

    def enqueue_pairs(self) -> list[Pair]:
        if not self.amqp:
            return []

        def ours(n: int, batch: int) -> None:
            enqueue = self.unconfirmed_queue.enqueue
            for i in range(n):
                enqueue(JOB, (0, i))

        def theirs(n: int, batch: int) -> None:
            delay = self.unconfirmed.tasks[JOB].delay
            for i in range(n):
                delay(0, i)

        return [
            Pair(
                "confirm_publish off on both sides",
                ours,
                theirs,
                "celery task.delay(), no confirms",
            )
        ]

    def setup(self) -> None:
        import queuekit

        self.prefix = f"bench-{self.token}-qk-"
        self.qk_name = f"{self.prefix}default"
        self.native_name = f"bench-{self.token}-celery"
        self.queue = _apps.collector.register_jobs(
            queuekit.create_queue(backend="celery", url=self.broker, queue_prefix=self.prefix)
        )
        # On RabbitMQ queuekit-celery publishes with confirms (enqueue returns once the broker
        # has the job); the main comparison gives celery the same guarantee and the same queue.
        self.app = _apps.make_celery(
            self.broker, self.native_name, confirm=self.amqp, max_priority=self.max_priority
        )
        self.task = self.app.tasks[JOB]
        if self.amqp:
            # Celery as shipped publishes to a plain queue of its own (RabbitMQ refuses to
            # declare one name with other arguments).
            self.shipped = _apps.make_celery(self.broker, f"{self.native_name}-shipped")
            self.unconfirmed_queue = _apps.collector.register_jobs(
                queuekit.create_queue(
                    backend="celery",
                    url=self.broker,
                    queue_prefix=self.prefix,
                    broker_transport_options='{"confirm_publish": false}',
                )
            )
            self.unconfirmed = _apps.make_celery(
                self.broker, self.native_name, max_priority=self.max_priority
            )
        self.raw_close: Callable[[], None] = lambda: None
        if self.broker == REDIS_URL:
            self.client = redis_client()
            self.raw = raw_lpush(self.client, f"bench-{self.token}-{self.name}-raw")
        else:
            self.raw, self.raw_close = raw_amqp(f"bench-{self.token}-{self.name}-raw")
        self.qk_enqueue(1)  # declare the queues, open the pools
        self.native_enqueue(1)
        if self.amqp:
            self.shipped.tasks[JOB].delay(0, 0)
        self.purge()

    def teardown(self) -> None:
        with contextlib.suppress(Exception):  # a broker that went away must not stop the rest
            self.purge()
        self.raw_close()
        self.queue.close()
        self.app.close()
        if self.amqp:
            self.shipped.close()
            self.unconfirmed_queue.close()
            self.unconfirmed.close()
        if self.broker == REDIS_URL:
            delete_matching(self.client, f"*{self.token}*")
            self.client.close()
        else:
            names = [self.qk_name, self.native_name, f"{self.native_name}-shipped"]
            _delete_amqp(names, names)

    def purge(self) -> None:
        names = [self.qk_name, self.native_name]
        if self.amqp:
            names.append(f"{self.native_name}-shipped")
        _purge_queues(self.app.connection_for_write, names)
        if self.broker == REDIS_URL:
            delete_matching(self.client, f"bench-{self.token}-{self.name}-raw")

    def native_enqueue(self, n: int) -> None:
        delay = self.task.delay
        for i in range(n):
            delay(0, i)

    def _native_batch(self, calls: list[tuple[int, int]]) -> None:
        with self.app.producer_or_acquire() as producer:
            for call in calls:
                self.task.apply_async(call, producer=producer)

    def bulk_baselines(self) -> list[Bulk]:
        def native(n: int, batch: int) -> None:
            for chunk in _batches(n, batch):
                self._native_batch([(0, i) for i in chunk])

        return [Bulk("celery apply_async, one producer", native), self.raw]

    def worker_sides(self) -> list[WorkerSide]:
        def native_fill(n: int, port: int) -> None:
            self._native_batch(_marked(n, port))

        command, env = _celery_command(self.broker, self.native_name, self.max_priority)
        return [
            WorkerSide(
                "queuekit worker -c 1 (prefork)",
                fill(self.queue),
                lambda port, tag: self.queue.enqueue(JOB, (port, tag)),
                command=self.qk_worker_command(
                    "celery", self.broker, f"queue_prefix={self.prefix}"
                ),
                purge=self.purge,
            ),
            WorkerSide(
                "celery worker -c 1 (prefork)",
                native_fill,
                lambda port, tag: self.task.delay(port, tag),
                command=command,
                env=env,
                purge=self.purge,
            ),
            # queuekit-celery sets worker_prefetch_multiplier=1 (priorities and fairness);
            # celery's default is 4. The same worker with celery's default:
            WorkerSide(
                "queuekit worker -c 1, prefetch x4",
                fill(self.queue),
                lambda port, tag: self.queue.enqueue(JOB, (port, tag)),
                command=self.qk_worker_command(
                    "celery",
                    self.broker,
                    f"queue_prefix={self.prefix}",
                    "worker_prefetch_multiplier=4",
                ),
                purge=self.purge,
            ),
        ]

    def worker_pairs(self) -> list[tuple[int, int, Target | None, str]]:
        return [*super().worker_pairs(), (2, 1, DRAIN_TARGET, "worker_prefetch_multiplier=4")]


class CeleryRedisSuite(CelerySuite):
    name = "celery-redis"
    modules = (*CelerySuite.modules, "redis")
    services = ("redis",)


class CeleryAmqpSuite(CelerySuite):
    name = "celery-rabbitmq"
    services = ("rabbitmq",)
    broker = AMQP_URL
    native = "celery task.delay(), confirm_publish, x-max-priority 9 queue"
    bulk_over_single = Target("ratio", 5.0)
    enqueue_slices = 20  # 1,000 calls a slice: each side's block took 30-100 s


# -- kombu ----------------------------------------------------------------------------------------


class KombuSuite(Suite):
    modules = ("queuekit_kombu", "kombu")
    url = AMQP_URL
    native = "kombu Producer.publish"

    @property
    def amqp(self) -> bool:
        return self.url.startswith("amqp")

    def setup(self) -> None:
        from kombu import Connection, Producer

        import queuekit

        self.namespace = f"bench-{self.token}-qk"
        self.qk_name = f"{self.namespace}.default"
        self.native_name = f"bench-{self.token}-kombu"
        self.queue = _apps.collector.register_jobs(
            queuekit.create_queue(backend="kombu", url=self.url, namespace=self.namespace)
        )
        options = {"confirm_publish": True} if self.amqp else {}
        self.conn = Connection(self.url, transport_options=options)
        self.producer = Producer(self.conn)
        if self.amqp:
            self.unconfirmed_queue = _apps.collector.register_jobs(
                queuekit.create_queue(
                    backend="kombu", url=self.url, namespace=self.namespace, confirm_publish=False
                )
            )
            self.unconfirmed_conn = Connection(self.url)
            self.unconfirmed_producer = Producer(self.unconfirmed_conn)
        self.exchange, self.native_queue = _apps.kombu_entities(self.url, self.native_name)
        self.producer.maybe_declare(self.native_queue)
        self.raw_close: Callable[[], None] = lambda: None
        if self.amqp:
            self.raw, self.raw_close = raw_amqp(f"bench-{self.token}-{self.name}-raw")
            self.celery_name = f"bench-{self.token}-kombu-celery"  # not celery-rabbitmq's queue
            self.celery = _apps.make_celery(self.url, self.celery_name)
        else:
            self.client = redis_client()
            self.raw = raw_lpush(self.client, f"bench-{self.token}-{self.name}-raw")
        self.qk_enqueue(1)
        self.native_enqueue(1)
        self.purge()

    def _conn(self) -> Any:
        from kombu import Connection

        return Connection(self.url)

    def teardown(self) -> None:
        with contextlib.suppress(Exception):  # a broker that went away must not stop the rest
            self.purge()
        self.raw_close()
        self.queue.close()
        self.conn.release()
        if self.amqp:
            self.unconfirmed_queue.close()
            self.unconfirmed_conn.release()
            self.celery.close()
            queues = [self.qk_name, f"{self.namespace}.dead", self.native_name, self.celery_name]
            exchanges = [self.namespace, f"{self.namespace}.dlx", f"{self.namespace}.delay"]
            _delete_amqp(queues, [*exchanges, self.native_name, self.celery_name])
        else:
            delete_matching(self.client, f"*{self.token}*")
            self.client.close()

    def purge(self) -> None:
        names = [self.qk_name, self.native_name]
        if self.amqp:
            names.append(self.celery_name)
        _purge_queues(self._conn, names)
        if not self.amqp:
            delete_matching(self.client, f"bench-{self.token}-{self.name}-raw")

    def _publish(self, port: int, tag: int) -> None:
        self.producer.publish(
            {"job": JOB, "args": [port, tag]},
            exchange=self.exchange,
            routing_key=self.native_name,
            serializer="json",
            delivery_mode=2,
        )

    def native_enqueue(self, n: int) -> None:
        publish = self._publish
        for i in range(n):
            publish(0, i)

    def enqueue_pairs(self) -> list[Pair]:
        if not self.amqp:
            return []

        def ours(n: int, batch: int) -> None:
            enqueue = self.unconfirmed_queue.enqueue
            for i in range(n):
                enqueue(JOB, (0, i))

        def theirs(n: int, batch: int) -> None:
            publish = self.unconfirmed_producer.publish
            for i in range(n):
                publish(
                    {"job": JOB, "args": [0, i]},
                    exchange=self.exchange,
                    routing_key=self.native_name,
                    serializer="json",
                    delivery_mode=2,
                )

        return [
            Pair(
                "confirm_publish off on both sides",
                ours,
                theirs,
                "kombu Producer.publish, no confirms",
            )
        ]

    def bulk_baselines(self) -> list[Bulk]:
        if self.amqp:
            return [self.raw]

        def native(n: int, batch: int) -> None:
            for chunk in _batches(n, batch):
                with self.producer.batch():
                    for i in chunk:
                        self._publish(0, i)

        return [Bulk("kombu Producer.batch()", native), self.raw]

    def worker_sides(self) -> list[WorkerSide]:
        def native_fill(n: int, port: int) -> None:
            for call in _marked(n, port):
                self._publish(*call)

        sides = [
            WorkerSide(
                "queuekit worker -c 1",
                fill(self.queue),
                lambda port, tag: self.queue.enqueue(JOB, (port, tag)),
                command=self.qk_worker_command("kombu", self.url, f"namespace={self.namespace}"),
                purge=self.purge,
            ),
            WorkerSide(
                "kombu Consumer loop, prefetch 4",
                native_fill,
                self._publish,
                command=[python(), "_apps.py", "kombu-worker"],
                env={"BENCH_KOMBU_URL": self.url, "BENCH_KOMBU_QUEUE": self.native_name},
                purge=self.purge,
            ),
        ]
        if self.amqp:
            task = self.celery.tasks[JOB]

            def celery_fill(n: int, port: int) -> None:
                with self.celery.producer_or_acquire() as producer:
                    for call in _marked(n, port):
                        task.apply_async(call, producer=producer)

            command, env = _celery_command(self.url, self.celery_name)
            sides.append(
                WorkerSide(
                    "celery worker -c 1 (prefork)",
                    celery_fill,
                    lambda port, tag: task.delay(port, tag),
                    command=command,
                    env=env,
                    purge=self.purge,
                )
            )
        return sides

    def worker_pairs(self) -> list[tuple[int, int, Target | None, str]]:
        pairs = super().worker_pairs()
        if self.amqp:
            pairs.append((0, 2, Target("ratio", 2.0), ""))
        return pairs


class KombuAmqpSuite(KombuSuite):
    name = "kombu-rabbitmq"
    services = ("rabbitmq",)
    native = "kombu Producer.publish, confirms"
    bulk_over_single = Target("ratio", 5.0)
    enqueue_slices = 20  # 1,000 calls a slice: each side's block took 30-60 s


class KombuRedisSuite(KombuSuite):
    name = "kombu-redis"
    modules = (*KombuSuite.modules, "redis")
    services = ("redis",)
    url = REDIS_URL
    bulk_absolute = Target("absolute", 20_000.0)


SUITES: list[type[Suite]] = [
    MemorySuite,
    SqliteSuite,
    HueyRedisSuite,
    HueySqliteSuite,
    RqSuite,
    CeleryRedisSuite,
    CeleryAmqpSuite,
    KombuAmqpSuite,
    KombuRedisSuite,
]


# -- running one suite ----------------------------------------------------------------------------


def run_suite(
    suite: Suite, sizes: Sizes, report: Report, log: Callable[[str], None], marks: Marks
) -> None:
    """Measure one backend: enqueue and batches in one interleaved loop, then the workers."""
    name = suite.name
    log(f"{name}:")
    phases: list[tuple[str, Callable[[], None]]] = [
        ("setup", suite.setup),
        ("enqueue", lambda: _rates(suite, sizes, report, log)),
        ("worker", lambda: _workers(suite, sizes, report, log, marks)),
    ]
    try:
        for title, phase in phases:
            try:
                _again(suite, phase, log, first=title == "setup")
            except Exception as exc:
                report.add(Row(name, title, "", HIGHER, status=f"error: {exc!r}"[:300]))
                log(f"  {title} failed: {exc!r}")
                if title == "setup":
                    return
    finally:
        try:
            suite.teardown()
        except Exception as exc:
            log(f"  teardown failed: {exc!r}")


def _again(
    suite: Suite, phase: Callable[[], None], log: Callable[[str], None], first: bool
) -> None:
    """Run ``phase``; when it fails (another test suite on this machine restarts Redis or
    RabbitMQ now and then), set the suite up afresh and run the whole phase again, twice at
    most, so that its rounds stay interleaved and complete."""
    for attempt in range(3):
        try:
            phase()
            return
        except Exception as exc:
            if attempt == 2:
                raise
            log(f"  failed ({exc!r:.200}); setting up again in 5 s and repeating this part")
            if not first:
                with contextlib.suppress(Exception):
                    suite.teardown()
            time.sleep(5)
            if not first:
                suite.setup()


def _rates(suite: Suite, sizes: Sizes, report: Report, log: Callable[[str], None]) -> None:
    name, n, bulk_n, batch = suite.name, sizes.enqueue, sizes.bulk, sizes.batch
    baselines = suite.bulk_baselines()

    def side(run: Callable[[], None], count: int) -> Callable[[], float]:
        def measure() -> float:
            rate = timed(count, run)
            suite.purge()
            return rate

        return measure

    def sliced(
        ours: Callable[[int], None], theirs: Callable[[int], None]
    ) -> tuple[Callable[[], float], Callable[[], float]]:
        """Both sides of a single-enqueue comparison in ``suite.enqueue_slices`` alternating
        slices (ours, theirs, theirs, ours, ...): whichever side the round asks for first
        runs both, and the other side's figure waits for its turn."""
        slices = suite.enqueue_slices
        if slices <= 1:
            return side(lambda: ours(n), n), side(lambda: theirs(n), n)
        size = max(n // slices, 1)
        pending: dict[int, float] = {}

        def run_both() -> None:
            spent = [0.0, 0.0]
            for index in range(slices):
                for which in (0, 1) if index % 2 == 0 else (1, 0):
                    start = time.perf_counter()
                    (ours, theirs)[which](size)
                    spent[which] += time.perf_counter() - start
            suite.purge()
            pending[0], pending[1] = size * slices / spent[0], size * slices / spent[1]

        def figure(which: int) -> Callable[[], float]:
            def measure() -> float:
                if which not in pending:
                    run_both()
                return pending.pop(which)

            return measure

        return figure(0), figure(1)

    qk_single, native_single = sliced(suite.qk_enqueue, suite.native_enqueue)
    sides: dict[str, Callable[[], float]] = {
        "queuekit": qk_single,
        "native": native_single,
        "queuekit batch": side(lambda: suite.qk_bulk(bulk_n, batch), bulk_n),
    }
    for baseline in baselines:
        sides[baseline.label] = side(lambda b=baseline: b.run(bulk_n, batch), bulk_n)  # type: ignore[misc]
    others = suite.enqueue_baselines()
    for other in others:
        sides[f"native {other.label}"] = side(lambda o=other: o.run(n, 0), n)  # type: ignore[misc]
    variants = suite.enqueue_variants()
    for variant in variants:
        sides[f"queuekit {variant.label}"] = side(lambda v=variant: v.run(n, 0), n)  # type: ignore[misc]
    pairs = suite.enqueue_pairs()
    for pair in pairs:
        ours, theirs = sliced(
            lambda count, p=pair: p.ours(count, 0),  # type: ignore[misc]
            lambda count, p=pair: p.theirs(count, 0),  # type: ignore[misc]
        )
        sides[f"queuekit {pair.label}"] = ours
        sides[f"native {pair.label}"] = theirs
    bulk_variants = suite.bulk_variants()
    for variant in bulk_variants:
        sides[f"queuekit batch {variant.label}"] = side(
            lambda v=variant: v.run(bulk_n, batch),  # type: ignore[misc]
            bulk_n,
        )
    log(f"  enqueue {n:,} one at a time, and {bulk_n:,} in batches of {batch}:")
    rates = interleave(sides, sizes.rounds, log)
    us = {key: [1e6 / r for r in values] for key, values in rates.items()}
    compare(
        report,
        name,
        "enqueue, one at a time",
        "us/call",
        LOWER,
        us["queuekit"],
        us["native"],
        suite.native,
        suite.enqueue_target,
    )
    for other in others:
        compare(
            report,
            name,
            "enqueue, one at a time",
            "us/call",
            LOWER,
            us["queuekit"],
            us[f"native {other.label}"],
            other.label,
            other.target,
        )
    for variant in variants:
        compare(
            report,
            name,
            f"enqueue, one at a time, {variant.label}",
            "us/call",
            LOWER,
            us[f"queuekit {variant.label}"],
            us["native"],
            suite.native,
            variant.target,
        )
    for pair in pairs:
        compare(
            report,
            name,
            f"enqueue, one at a time, {pair.label}",
            "us/call",
            LOWER,
            us[f"queuekit {pair.label}"],
            us[f"native {pair.label}"],
            pair.baseline,
            pair.target,
        )
    measure = f"enqueue_many x{batch}"
    for baseline in baselines:
        compare(
            report,
            name,
            measure,
            "jobs/s",
            HIGHER,
            rates["queuekit batch"],
            rates[baseline.label],
            baseline.label,
            baseline.target,
        )
    if suite.bulk_absolute is not None:
        compare(
            report,
            name,
            measure,
            "jobs/s",
            HIGHER,
            rates["queuekit batch"],
            None,
            "(absolute)",
            suite.bulk_absolute,
        )
    for variant in bulk_variants:
        ours = rates[f"queuekit batch {variant.label}"]
        for baseline in baselines:
            compare(
                report,
                name,
                f"{measure}, {variant.label}",
                "jobs/s",
                HIGHER,
                ours,
                rates[baseline.label],
                baseline.label,
                baseline.target,
            )
        if suite.bulk_absolute is not None:
            compare(
                report,
                name,
                f"{measure}, {variant.label}",
                "jobs/s",
                HIGHER,
                ours,
                None,
                "(absolute)",
                suite.bulk_absolute,
            )
    if suite.bulk_over_single is not None:
        compare(
            report,
            name,
            measure,
            "jobs/s",
            HIGHER,
            rates["queuekit batch"],
            rates["queuekit"],
            "queuekit enqueue, one at a time",
            suite.bulk_over_single,
        )


def _workers(
    suite: Suite, sizes: Sizes, report: Report, log: Callable[[str], None], marks: Marks
) -> None:
    name = suite.name
    sides = suite.worker_sides()
    if not sides:
        return
    n, samples = sizes.drain, sizes.samples

    def measure(side: WorkerSide) -> Callable[[], Any]:
        if side.command is not None:
            control = subprocess_worker(side.command, side.env)
        else:
            assert side.start is not None and side.stop is not None
            control = {
                "start": side.start,
                "stop": side.stop,
                "alive": lambda handle: True,
                "rss": lambda handle: None,
                "cpu": lambda handle: None,
            }

        def run() -> Any:
            try:
                return worker_round(
                    side.fill,
                    control["start"],
                    side.probe,
                    marks,
                    min(n, side.jobs or n),
                    samples,
                    control["rss"],
                    control["stop"],
                    control["alive"],
                    control["cpu"],
                )
            finally:
                side.purge()

        return run

    log(f"  drain {n:,} no-op jobs with one worker, then {samples} probes of the idle worker:")
    runs: dict[str, list[Any]] = {side.label: [] for side in sides}
    for index in range(sizes.worker_rounds):
        order = sides if index % 2 == 0 else sides[::-1]
        for side in order:
            runs[side.label].append(measure(side)())
        shown = ", ".join(
            f"{label} {r[-1].drain:,.0f}/s"
            + (f" ({r[-1].cpu:,.0f} us CPU a job)" if r[-1].cpu is not None else "")
            + f", {statistics_median(r[-1].latencies):.2f} ms"
            for label, r in runs.items()
        )
        log(f"    round {index + 1}: {shown}")
    ours = runs[sides[0].label]
    for mine, other, target, what in suite.worker_pairs():
        compare(
            report,
            name,
            f"drain, 1 worker process{', ' + what if what else ''}",
            "jobs/s",
            HIGHER,
            [r.drain for r in runs[sides[mine].label]],
            [r.drain for r in runs[sides[other].label]],
            sides[other].label,
            target,
        )
        if runs[sides[mine].label][0].cpu is not None:
            compare(
                report,
                name,
                f"drain, worker CPU per job{', ' + what if what else ''}",
                "us",
                LOWER,
                [r.cpu for r in runs[sides[mine].label]],
                [r.cpu for r in runs[sides[other].label]],
                sides[other].label,
            )
    if suite.drain_absolute is not None:
        compare(
            report,
            name,
            "drain, 1 worker process",
            "jobs/s",
            HIGHER,
            [r.drain for r in ours],
            None,
            "(absolute)",
            suite.drain_absolute,
        )
    native = sides[1]
    theirs = runs[native.label]
    compare(
        report,
        name,
        "latency, idle worker, median",
        "ms",
        LOWER,
        [statistics_median(r.latencies) for r in ours],
        [statistics_median(r.latencies) for r in theirs],
        native.label,
    )
    compare(
        report,
        name,
        "latency, idle worker, p99",
        "ms",
        LOWER,
        [p99(r.latencies) for r in ours],
        [p99(r.latencies) for r in theirs],
        native.label,
    )
    if ours[0].rss is not None:
        compare(
            report,
            name,
            "worker idle RSS",
            "MiB",
            LOWER,
            [r.rss for r in ours],
            [r.rss for r in theirs],
            native.label,
        )


def statistics_median(values: list[float]) -> float:
    import statistics

    return statistics.median(values)


# -- import time ----------------------------------------------------------------------------------


#: What is timed in a fresh interpreter: the bare import (issue 10's bar), what an application
#: runs at import time, and the whole queue contract (a queue built), which ``import queuekit``
#: leaves to first use.
IMPORTS = (
    ("import queuekit", "import queuekit", True),
    ("from queuekit import job, register_app", "from queuekit import job, register_app", True),
    (
        "import queuekit + create_queue('memory://')",
        "import queuekit; queuekit.create_queue('memory://')",
        False,
    ),
)


def run_import(sizes: Sizes, report: Report, log: Callable[[str], None]) -> None:
    """``import queuekit`` in fresh interpreters, as installed (bytecode cached): wall time
    (perf_counter) and CPU time (process_time, which other processes' load barely moves)."""
    import subprocess

    env = worker_env()
    for label, statement, targeted in IMPORTS:
        code = (
            "import time; t, c = time.perf_counter(), time.process_time(); "
            f"{statement}; print(time.perf_counter() - t, time.process_time() - c)"
        )
        wall, cpu = [], []
        for index in range(sizes.imports + 1):
            out = subprocess.run(
                [python(), "-c", code], capture_output=True, text=True, check=True, cwd="/", env=env
            )
            if index:  # the first run writes the bytecode cache
                seconds, cpu_seconds = (float(x) for x in out.stdout.split())
                wall.append(seconds * 1000)
                cpu.append(cpu_seconds * 1000)
        log(
            f"core: {label}: wall {[round(s, 1) for s in wall]} ms, "
            f"cpu {[round(s, 1) for s in cpu]} ms"
        )
        for measure, values in (("wall", wall), ("CPU", cpu)):
            compare(
                report,
                "core",
                f"{label}, fresh process, {measure}",
                "ms",
                LOWER,
                values,
                None,
                "",
                Target("absolute", 30.0) if targeted else None,
            )


@contextlib.contextmanager
def workdir() -> Any:
    path = Path(tempfile.mkdtemp(prefix="queuekit-bench-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def versions() -> dict[str, str]:
    """Python and engine versions (installed ones)."""
    from importlib import metadata

    found = {"python": sys.version.split()[0]}
    for dist in ("queuekit", "huey", "rq", "celery", "kombu", "redis", "amqp"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[dist] = metadata.version(dist)
    return found


def server_versions() -> dict[str, str]:
    """Redis and RabbitMQ server versions, where they answer."""
    found: dict[str, str] = {}
    with contextlib.suppress(Exception):
        client = redis_client()
        found["redis-server"] = str(client.info("server")["redis_version"])
        client.close()
    with contextlib.suppress(Exception):
        from kombu import Connection

        with Connection(AMQP_URL, connect_timeout=2) as conn:
            conn.connect()
            props = conn.connection.server_properties
            found["rabbitmq"] = str(props.get("version", "?"))
    return found


__all__ = ["FULL", "QUICK", "SUITES", "Sizes", "Suite", "run_import", "run_suite"]
