"""The fault suite's experiments, shared by tests/test_faults_*.py (CI sizes) and by
``python -m tests.faults --full`` (the sizes docs/reliability.md publishes).

Every experiment runs real ``queuekit worker`` processes against the machine's services: Redis
db 7 (only) and RabbitMQ, each run under names of its own (a fresh huey name, rq queue, Celery
queue prefix or kombu namespace), so concurrent runs never share a queue. Executions are
counted from lines the jobs append to a file (tests/apps/fault_jobs.py), which survives both a
SIGKILLed worker and a restarted broker.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import importlib.util
import json
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import queuekit
from queuekit.base import BaseQueue
from queuekit.exceptions import QueueError
from tests.apps.fault_jobs import RECORD, collector

REDIS_URL = "redis://127.0.0.1:6379/7"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"
APP = "tests.apps.fault_jobs:collector"
PORTS = {"redis": 6379, "rabbitmq": 5672}
#: Seconds after which kombu's Redis transport hands a dead worker's messages out again, for
#: the backends on Redis that rely on it (kombu's default is an hour).
VISIBILITY = 5


# -- backends ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backend:
    """One backend configuration the fault suite runs."""

    name: str
    alias: str
    services: tuple[str, ...]
    #: The module that must import for the backend to be installed (None: the core).
    module: str | None
    #: (run directory, unique tag) -> options for producer and worker.
    options: Callable[[Path, str], dict[str, Any]]
    #: Jobs one single-slot worker may hold when it dies (taken from the broker, not acked).
    in_hand: int = 1
    #: Seconds until a dead worker's unacknowledged messages are delivered again.
    redelivery: float = 0.0
    #: The transport takes a message off the queue before it records it as unacknowledged
    #: (kombu's Redis transport): a kill in that instant loses that one message.
    pop_window: bool = False
    worker_args: tuple[str, ...] = ()
    #: Removes what the run left in the services.
    cleanup: Callable[[dict[str, Any]], None] = field(default=lambda options: None)

    def missing(self) -> str | None:
        """Why this backend cannot run here, or None."""
        if self.module is not None and importlib.util.find_spec(self.module) is None:
            return f"{self.module} is not installed"
        for service in self.services:
            if not answers(PORTS[service]):
                return f"{service} is not answering on 127.0.0.1:{PORTS[service]}"
        return None


def answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def _delete_redis(patterns: list[str]) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5, socket_connect_timeout=2)
    try:
        for pattern in patterns:
            keys = list(client.scan_iter(pattern, count=1000))
            for start in range(0, len(keys), 500):
                client.delete(*keys[start : start + 500])
    except Exception:
        pass
    finally:
        client.close()


def _delete_amqp(queues: list[str], exchanges: list[str]) -> None:
    try:
        from kombu import Connection

        with Connection(AMQP_URL, connect_timeout=3) as conn:
            channel = conn.channel()
            for name in queues:
                with contextlib.suppress(Exception):
                    channel.queue_delete(name)
            for name in exchanges:
                with contextlib.suppress(Exception):
                    channel.exchange_delete(name)
    except Exception:
        pass


def _sqlite(run: Path, tag: str) -> dict[str, Any]:
    return {"url": f"sqlite://{run}/jobs.db", "lease": 1.0, "poll_interval": 0.2}


def _huey_redis(run: Path, tag: str) -> dict[str, Any]:
    return {"url": REDIS_URL, "name": f"faults-{tag}"}


def _huey_sqlite(run: Path, tag: str) -> dict[str, Any]:
    return {"url": f"sqlite://{run}/huey.db", "name": f"faults-{tag}", "max_delay": 0.1}


def _rq(run: Path, tag: str) -> dict[str, Any]:
    return {"url": REDIS_URL, "default_queue": f"faults-{tag}", "failure_ttl": 3600}


_CELERY_REDIS_TRANSPORT = json.dumps(
    {"visibility_timeout": VISIBILITY, "unacked_restore_interval": 1, "unacked_restore_throttle": 1}
)


def _celery_redis(run: Path, tag: str) -> dict[str, Any]:
    return {
        "url": REDIS_URL,
        "result_backend": REDIS_URL,
        "queue_prefix": f"faults-{tag}.",
        "broker_transport_options": _CELERY_REDIS_TRANSPORT,
    }


def _celery_amqp(run: Path, tag: str) -> dict[str, Any]:
    return {"url": AMQP_URL, "result_backend": REDIS_URL, "queue_prefix": f"faults-{tag}."}


def _kombu_amqp(run: Path, tag: str) -> dict[str, Any]:
    return {"url": AMQP_URL, "namespace": f"faults-{tag}", "result_url": REDIS_URL}


def _kombu_redis(run: Path, tag: str) -> dict[str, Any]:
    return {
        "url": REDIS_URL,
        "namespace": f"faults-{tag}",
        "result_url": REDIS_URL,
        "visibility_timeout": VISIBILITY,
    }


def _clean_huey(options: dict[str, Any]) -> None:
    if options["url"].startswith("redis"):
        name = options["name"]
        _delete_redis([f"huey.*.{name}*", f"queuekit:huey:{name}:*"])


def _clean_rq(options: dict[str, Any]) -> None:
    name = options["default_queue"]
    _delete_redis([f"rq:*{name}*"])


def _clean_celery(options: dict[str, Any]) -> None:
    prefix = options["queue_prefix"]
    _delete_redis([f"{prefix}*", f"queuekit:celery:{prefix}*", f"_kombu.binding.{prefix}*"])
    if options["url"].startswith("amqp"):
        _delete_amqp([f"{prefix}default"], [f"{prefix}default"])


def _clean_kombu(options: dict[str, Any]) -> None:
    namespace = options["namespace"]
    _delete_redis(
        [f"queuekit:kombu:{namespace}:*", f"{namespace}*", f"_kombu.binding.{namespace}*"]
    )
    if options["url"].startswith("amqp"):
        from queuekit_kombu._topology import MAX_BUCKET_MS, MIN_BUCKET_MS

        names, ms = [f"{namespace}.default", f"{namespace}.dead"], MIN_BUCKET_MS
        while ms <= MAX_BUCKET_MS:
            names.append(f"{namespace}.delay.{ms}")
            ms *= 2
        _delete_amqp(names, [namespace, f"{namespace}.dlx", f"{namespace}.delay"])


def _memory(run: Path, tag: str) -> dict[str, Any]:
    return {"concurrency": 1, "autostart": False}


#: Backends whose jobs live in the producer's process: no worker to kill or signal.
IN_PROCESS = frozenset({"memory"})

BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend("memory", "memory", (), None, _memory),
        Backend("sqlite", "sqlite", (), None, _sqlite, redelivery=1.0),
        Backend(
            "huey-redis", "huey", ("redis",), "queuekit_huey", _huey_redis, cleanup=_clean_huey
        ),
        Backend("huey-sqlite", "huey", (), "queuekit_huey", _huey_sqlite),
        Backend("rq", "rq", ("redis",), "queuekit_rq", _rq, cleanup=_clean_rq),
        Backend(
            "celery-redis",
            "celery",
            ("redis",),
            "queuekit_celery",
            _celery_redis,
            # Acked at start; one more message is reserved (prefetch 1), and comes back.
            in_hand=1,
            redelivery=VISIBILITY + 2,
            # kombu's Redis transport, as for kombu on Redis: Redis pops the next message when
            # the worker asks for it, and the worker records it as unacknowledged only once it
            # reads the reply, later on a loaded machine; a kill in between loses that message.
            pop_window=True,
            cleanup=_clean_celery,
        ),
        Backend(
            "celery-rabbitmq",
            "celery",
            ("rabbitmq", "redis"),
            "queuekit_celery",
            _celery_amqp,
            cleanup=_clean_celery,
        ),
        Backend(
            "kombu-rabbitmq",
            "kombu",
            ("rabbitmq", "redis"),
            "queuekit_kombu",
            _kombu_amqp,
            cleanup=_clean_kombu,
        ),
        Backend(
            "kombu-redis",
            "kombu",
            ("redis",),
            "queuekit_kombu",
            _kombu_redis,
            redelivery=VISIBILITY + 3,
            pop_window=True,
            cleanup=_clean_kombu,
        ),
    )
}


# -- processes and records -----------------------------------------------------------------------


def option_args(options: dict[str, Any]) -> list[str]:
    args = []
    for key, value in options.items():
        if key == "url":
            args += ["--url", str(value)]
        else:
            args += ["-o", f"{key}={value}"]
    return args


def make_queue(backend: Backend, options: dict[str, Any]) -> BaseQueue:
    queue = queuekit.create_queue(backend=backend.alias, **options)
    collector.register_jobs(queue)
    return queue


def spawn(
    backend: Backend, options: dict[str, Any], log: Path, *extra: str
) -> subprocess.Popen[bytes]:
    """``queuekit worker`` for ``backend`` in a session of its own (so a kill reaches its
    children too, as a crashed container or machine would)."""
    args = [sys.executable, "-m", "queuekit", "worker", "--backend", backend.alias]
    args += [*option_args(options), "-c", "1", *backend.worker_args, *extra, "--app", APP]
    with log.open("ab") as sink:
        return subprocess.Popen(
            args,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=Path(__file__).resolve().parent.parent,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def kill_group(process: subprocess.Popen[bytes], signum: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)
    process.wait(30)


def stop(process: subprocess.Popen[bytes], timeout: float = 60) -> int:
    """SIGTERM, as an orchestrator stops a worker; SIGKILL the group if it does not exit."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            kill_group(process)
            return -9999
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # children a clean exit left behind
    return process.returncode


@dataclass
class Runs:
    """What the jobs wrote: the items started and done, with repetitions."""

    started: collections.Counter[int]
    done: collections.Counter[int]

    @classmethod
    def read(cls, path: Path) -> Runs:
        started: collections.Counter[int] = collections.Counter()
        done: collections.Counter[int] = collections.Counter()
        if path.exists():
            for line in path.read_text().splitlines():
                kind, item, _ = line.split()
                (started if kind == "S" else done)[int(item)] += 1
        return cls(started, done)

    def in_hand(self) -> set[int]:
        """Items started more often than finished: cut off mid-run."""
        return {item for item, n in self.started.items() if n > self.done[item]}


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def settle(path: Path, total: int, quiet: float, timeout: float, queue: BaseQueue) -> None:
    """Wait until every item ran, or (at-most-once: it never runs the jobs it lost) nothing
    has changed for ``quiet`` seconds and the queue is empty. An at-least-once backend gets
    the whole ``timeout``: a job still missing by then is lost."""
    if queue.delivery == "at-least-once":
        quiet = timeout
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        size = path.stat().st_size if path.exists() else 0
        if size != last:
            last, since = size, time.monotonic()
        runs = Runs.read(path)
        if len(runs.done) >= total:
            return
        if time.monotonic() - since >= quiet and waiting(queue) == 0:
            return
        time.sleep(0.2)


def waiting(queue: BaseQueue) -> int:
    try:
        return queue.count()
    except QueueError:
        return -1


@contextlib.contextmanager
def run_dir(parent: Path | None = None) -> Iterator[Path]:
    if parent is not None:
        yield parent
        return
    with tempfile.TemporaryDirectory(prefix="queuekit-faults-") as name:
        yield Path(name)


@contextlib.contextmanager
def configured(backend: Backend, run: Path) -> Iterator[tuple[dict[str, Any], BaseQueue]]:
    options = backend.options(run, uuid.uuid4().hex[:10])
    queue = make_queue(backend, options)
    try:
        yield options, queue
    finally:
        queue.close()
        backend.cleanup(options)


# -- 1. worker crash -----------------------------------------------------------------------------


@dataclass
class CrashResult:
    backend: str
    delivery: str
    jobs: int
    kills: int
    lost: int
    lost_started: int
    duplicated: int
    in_hand_at_kills: list[int]
    bound: int
    seconds: float
    pop_window: bool = False

    def problems(self) -> list[str]:
        """What contradicts the backend's declared delivery guarantee (with its documented
        gap: one message per kill on a transport that pops before recording the ack)."""
        found = []
        allowed = self.kills if self.pop_window else 0
        if self.delivery == "at-least-once" and self.lost > allowed:
            found.append(f"{self.lost} jobs lost on an at-least-once backend")
        if self.delivery == "at-most-once":
            if self.lost > self.bound:
                found.append(f"{self.lost} jobs lost, more than the {self.bound} kills may take")
            if self.duplicated:
                found.append(f"{self.duplicated} duplicated runs on an at-most-once backend")
        return found


def crash(
    backend: Backend,
    jobs: int = 200,
    kills: int = 5,
    seed: int = 1,
    job_seconds: float = 0.01,
    parent: Path | None = None,
) -> CrashResult:
    """Enqueue ``jobs``; start a worker, let it make progress, SIGKILL it (and its children) at
    a random moment, ``kills`` times; then let a last worker finish and count the runs."""
    rng = random.Random(seed)
    began = time.monotonic()
    with run_dir(parent) as run, configured(backend, run) as (options, queue):
        out, log = run / "runs", run / "worker.log"
        for start in range(0, jobs, 500):
            batch = range(start, min(start + 500, jobs))
            queue.enqueue_many(RECORD, [[str(out), i, job_seconds] for i in batch])
        delivery = queue.delivery
        in_hand: list[int] = []
        for _ in range(kills):
            cut_before = Runs.read(out).in_hand()
            process = spawn(backend, options, log)
            before = len(Runs.read(out).done)
            try:
                wait_until(
                    lambda b=before, p=process: (
                        len(Runs.read(out).done) > b or p.poll() is not None
                    ),
                    120,
                    f"{backend.name} worker to make progress",
                )
                time.sleep(rng.uniform(0.0, 0.4))
            finally:
                kill_group(process)
            in_hand.append(len(Runs.read(out).in_hand() - cut_before))
        process = spawn(backend, options, log)
        try:
            settle(out, jobs, quiet=max(2.0, backend.redelivery + 2.0), timeout=120, queue=queue)
        finally:
            stop(process)
        runs = Runs.read(out)
        lost = set(range(jobs)) - set(runs.done)
        result = CrashResult(
            backend=backend.name,
            delivery=delivery,
            jobs=jobs,
            kills=kills,
            lost=len(lost),
            lost_started=len(lost & set(runs.started)),
            duplicated=sum(n - 1 for n in runs.done.values()),
            in_hand_at_kills=in_hand,
            bound=kills * (backend.in_hand + int(backend.pop_window)),
            seconds=round(time.monotonic() - began, 1),
            pop_window=backend.pop_window,
        )
    return result


# -- 2. graceful shutdown ------------------------------------------------------------------------


@dataclass
class GracefulResult:
    backend: str
    jobs: int
    exit_code: int
    finished_in_hand: int
    cut_off: int
    set_aside: int
    lost: int
    duplicated: int

    def problems(self) -> list[str]:
        found = []
        if self.exit_code != 0:
            found.append(f"the worker exited with {self.exit_code} on SIGTERM")
        if self.lost:
            found.append(f"{self.lost} jobs lost")
        if self.duplicated:
            found.append(f"{self.duplicated} jobs ran twice")
        return found


def graceful(
    backend: Backend, jobs: int = 8, job_seconds: float = 0.3, parent: Path | None = None
) -> GracefulResult:
    """SIGTERM a worker while it runs a batch of slow jobs; then a new worker finishes the
    batch. Counts jobs lost, run twice, and cut off (kept in the failed store instead)."""
    with run_dir(parent) as run, configured(backend, run) as (options, queue):
        out, log = run / "runs", run / "worker.log"
        queue.enqueue_many(RECORD, [[str(out), i, job_seconds] for i in range(jobs)])
        process = spawn(backend, options, log)
        try:
            wait_until(lambda: len(Runs.read(out).done) >= 2, 120, "two jobs to finish")
            wait_until(lambda: bool(Runs.read(out).in_hand()), 30, "a job in hand")
            hand = Runs.read(out).in_hand()
        finally:
            code = stop(process)
        after_stop = Runs.read(out)
        cut_off = after_stop.in_hand()
        process = spawn(backend, options, log)
        try:
            settle(out, jobs, quiet=max(2.0, backend.redelivery + 2.0), timeout=120, queue=queue)
        finally:
            stop(process)
        runs = Runs.read(out)
        lost = set(range(jobs)) - set(runs.done)
        set_aside = 0
        if lost and queue.supports_failed_store:
            kept = {r.envelope["args"][1] for r in queue.failed.list() if r.envelope}
            set_aside = len(lost & kept)
        return GracefulResult(
            backend=backend.name,
            jobs=jobs,
            exit_code=code,
            finished_in_hand=len(hand - cut_off),
            cut_off=len(cut_off),
            set_aside=set_aside,
            lost=len(lost) - set_aside,
            duplicated=sum(n - 1 for n in runs.done.values()),
        )


# -- 4. bad input at enqueue ---------------------------------------------------------------------


@dataclass
class InputCase:
    name: str
    call: Callable[[BaseQueue], Any]
    #: Substrings the error message must contain: the value at fault and the fix.
    expect: tuple[str, ...]


def input_cases(queue: BaseQueue, path: str) -> list[InputCase]:
    """The bad calls every backend must refuse in the caller's process."""
    big = "x" * (queue.codec.max_bytes + 1)
    cases = [
        InputCase(
            "unknown job",
            lambda q: q.enqueue("faults.recrod", [path, 1]),
            ("'faults.recrod'", "Did you mean 'faults.record'", "@job"),
        ),
        InputCase(
            "non-JSON argument",
            lambda q: q.enqueue(RECORD, [path, 1], {"seconds": datetime.now(timezone.utc)}),
            ("kwargs['seconds'] is a datetime",),
        ),
        InputCase(
            "payload over max_payload_bytes",
            lambda q: q.enqueue(RECORD, [path, 1], {"seconds": 0, "padding": big}),
            (f"max_payload_bytes={queue.codec.max_bytes:,}", "pass a reference"),
        ),
        InputCase(
            "unknown option",
            lambda q: q.enqueue(RECORD, [path, 1], prioritty=5),
            ("'prioritty'", "Did you mean 'priority'"),
        ),
        InputCase(
            "naive datetime eta",
            lambda q: q.enqueue(RECORD, [path, 1], eta=datetime(2030, 1, 1, 12, 0)),
            ("2030-01-01T12:00:00", "naive datetime", "timezone.utc"),
        ),
        InputCase(
            "one bad call in a batch",
            lambda q: q.enqueue_many(
                RECORD, [[path, 1], [path, 2], [path, 3, 0, "x" * (q.codec.max_bytes + 1)]]
            ),
            ("max_payload_bytes", "pass a reference"),
        ),
    ]
    if queue.supports_named_queues:
        cases.append(
            InputCase(
                "unknown queue",
                lambda q: q.enqueue(RECORD, [path, 1], queue="mial"),
                ("'mial'", "Did you mean 'mail'", "queues option"),
            )
        )
    else:
        cases.append(
            InputCase(
                "unknown queue",
                lambda q: q.enqueue(RECORD, [path, 1], queue="mial"),
                (f"{queue.backend_name!r}", "named queues", "queue='mial'"),
            )
        )
    for capability, option in (
        ("delay", {"delay": 5}),
        ("priority", {"priority": 5}),
        ("timeout", {"timeout": 5}),
        ("retries", {"retries": 2}),
    ):
        if not getattr(queue, f"supports_{capability}"):
            cases.append(
                InputCase(
                    f"unsupported option {capability}",
                    lambda q, o=option: q.enqueue(RECORD, [path, 1], **o),  # type: ignore[misc]
                    (f"{queue.backend_name!r}", capability),
                )
            )
    return cases


@dataclass
class InputResult:
    backend: str
    case: str
    error: str
    message: str
    typed: bool
    named: bool
    enqueued: int

    def problems(self) -> list[str]:
        found = []
        if not self.typed:
            found.append(f"{self.case}: raised {self.error}, not a QueueError")
        if not self.named:
            found.append(f"{self.case}: message lacks the value or the fix: {self.message!r}")
        if self.enqueued:
            found.append(f"{self.case}: {self.enqueued} message(s) reached the broker")
        return found


def bad_input(backend: Backend, parent: Path | None = None) -> list[InputResult]:
    """Each bad call, with the broker's queue length before and after."""
    results = []
    with run_dir(parent) as run:
        make = backend.options
        options = {**make(run, uuid.uuid4().hex[:10]), "queues": "default,mail"}
        queue = make_queue(backend, options)
        try:
            for case in input_cases(queue, str(run / "never")):
                before = waiting(queue)
                try:
                    case.call(queue)
                except Exception as exc:
                    message, error, typed = (
                        str(exc),
                        type(exc).__name__,
                        isinstance(exc, QueueError),
                    )
                else:
                    message, error, typed = "", "nothing", False
                after = waiting(queue)
                results.append(
                    InputResult(
                        backend.name,
                        case.name,
                        error,
                        message,
                        typed,
                        all(part in message for part in case.expect),
                        after - before,
                    )
                )
        finally:
            queue.close()
            backend.cleanup(options)
    return results


# -- 5. bad messages at the worker ---------------------------------------------------------------

#: The worker's (and producer's) size limit in the bad-message runs; oversized messages exceed it.
SMALL_LIMIT = 4096

CATEGORIES = ("malformed", "truncated", "wrong-version", "unregistered-job", "oversized")


def _valid(item: int, path: str, tag: str) -> dict[str, Any]:
    return {
        "v": 1,
        "id": f"{tag}{item:08d}",
        "job": RECORD,
        "args": [path, item, 0],
        "kwargs": {},
        "queue": "default",
        "enqueued_at": time.time(),
        "attempt": 1,
        "options": {},
    }


def bad_messages(count: int, path: str, seed: int = 7) -> list[tuple[str, bytes]]:
    """``count`` messages a worker must refuse, ``(category, bytes)``, in equal shares of
    malformed, truncated, wrong-version, unregistered-job and oversized; each JSON object has an
    id of its own, so every refusal is a record of its own in the failed store."""
    rng = random.Random(seed)
    tag = f"bad{rng.randrange(16**6):06x}"
    found: list[tuple[str, bytes]] = []
    for n in range(count):
        category = CATEGORIES[n % len(CATEGORIES)]
        base = _valid(n, path, tag)
        if category == "malformed":
            kind = rng.randrange(6)
            if kind == 0:
                data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
                if data.strip().startswith((b"{", b"[")) or data.strip() in (b"", b"0"):
                    data = b"\xff" + data
            elif kind == 1:
                # Not "text": rq reads a 4-item JSON value as (function, instance, args, kwargs).
                data = json.dumps(rng.choice([[1, 2], "some text", 12, None, True])).encode()
            elif kind == 2:
                base.pop(rng.choice(["job", "args", "kwargs"]))
                data = json.dumps(base).encode()
            elif kind == 3:
                base[rng.choice(["args", "kwargs", "job"])] = rng.choice([7, "x", None, {"a": 1}])
                if isinstance(base["args"], list) and isinstance(base["kwargs"], dict):
                    base["attempt"] = 0
                data = json.dumps(base).encode()
            elif kind == 4:
                data = (
                    json.dumps(base).encode().replace(b'"enqueued_at":', b'"enqueued_at":NaN,"x":')
                )
            else:
                base["options"] = ["not", "an", "object"]
                data = json.dumps(base).encode()
        elif category == "truncated":
            full = json.dumps(base).encode()
            data = full[: rng.randrange(1, len(full) - 1)]
        elif category == "wrong-version":
            base["v"] = rng.choice([0, 2, 99, -1, "1", 1.0, None])
            if base["v"] is None:
                del base["v"]
            data = json.dumps(base).encode()
        elif category == "unregistered-job":
            base["job"] = rng.choice(["os.system", "faults.recrod", "", "subprocess.run", "x" * 40])
            data = json.dumps(base).encode()
        else:
            base["kwargs"] = {"padding": "y" * (SMALL_LIMIT + rng.randrange(1, 4096))}
            data = json.dumps(base).encode()
        found.append((category, data))
    return found


def injector(backend: Backend, queue: BaseQueue) -> Callable[[bytes], None]:
    """How to put raw bytes where this backend's worker reads messages."""
    if backend.alias in ("sqlite", "memory"):
        return lambda data: queue.put_raw(data)  # type: ignore[attr-defined]
    if backend.alias == "huey":
        return lambda data: queue.huey.storage.enqueue(data)  # type: ignore[attr-defined]
    if backend.alias == "celery":
        return lambda data: queue.put_raw(data, job=_celery_task(data))  # type: ignore[attr-defined]
    if backend.alias == "kombu":
        return _kombu_injector(queue)
    if backend.alias == "rq":
        return _rq_injector(queue)
    raise AssertionError(f"no injector for {backend.name}")


def _celery_task(data: bytes) -> str:
    """The Celery task a raw message names: its envelope's job when it has one (an unknown
    one reaches Celery's unknown-task path), else a registered task."""
    with contextlib.suppress(ValueError, UnicodeDecodeError):
        decoded = json.loads(data)
        if isinstance(decoded, dict) and isinstance(decoded.get("job"), str) and decoded["job"]:
            return str(decoded["job"])
    return RECORD


def _kombu_injector(queue: BaseQueue) -> Callable[[bytes], None]:
    from kombu import Producer

    topology: Any = queue.topology  # type: ignore[attr-defined]
    conn = queue.connection()  # type: ignore[attr-defined]
    producer = Producer(conn.channel())
    producer.maybe_declare(topology.work_queue("default"))
    producer.maybe_declare(topology.dead)

    def inject(data: bytes) -> None:
        producer.publish(
            data,
            exchange=topology.exchange,
            routing_key="default",
            content_type="application/json",
            content_encoding="binary",
        )

    return inject


def _rq_injector(queue: BaseQueue) -> Callable[[bytes], None]:
    """An rq job per message: the call data rq's JSON serializer writes around the message
    when it is a JSON object (``queuekit_rq.run(message)``), else the raw bytes as call data."""
    from rq.job import Job

    client: Any = queue.client  # type: ignore[attr-defined]
    key = queue.rq_queue().key  # type: ignore[attr-defined]

    def inject(data: bytes) -> None:
        job_id = f"raw{uuid.uuid4().hex}"
        stored = data
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            decoded = json.loads(data)
            if isinstance(decoded, dict):
                decoded["id"] = job_id
                call = ["queuekit_rq.run", None, [decoded], {}]
                stored = zlib.compress(json.dumps(call).encode())
        client.hset(
            Job.key_for(job_id),
            mapping={"data": stored, "origin": key.rsplit(":", 1)[1], "status": "queued"},
        )
        client.rpush(key, job_id)

    return inject


@dataclass
class MessagesResult:
    backend: str
    bad: int
    valid: int
    valid_ran: int
    set_aside: int
    reasons: dict[str, int]
    worker_alive: bool
    exit_code: int
    seconds: float

    def problems(self) -> list[str]:
        found = []
        if not self.worker_alive or self.exit_code != 0:
            found.append(f"worker alive={self.worker_alive}, exit code {self.exit_code}")
        if self.valid_ran != self.valid:
            found.append(f"{self.valid - self.valid_ran} of {self.valid} valid jobs did not run")
        if self.set_aside != self.bad:
            found.append(f"{self.set_aside} of {self.bad} bad messages set aside")
        return found


def messages(backend: Backend, count: int = 200, parent: Path | None = None) -> MessagesResult:
    """Write ``count`` bad messages straight into the broker, one valid job after every ten,
    run one worker; every valid job must run and every bad message be set aside with a reason."""
    began = time.monotonic()
    with run_dir(parent) as run:
        options = {
            **backend.options(run, uuid.uuid4().hex[:10]),
            "max_payload_bytes": SMALL_LIMIT,
        }
        queue = make_queue(backend, options)
        out, log = run / "runs", run / "worker.log"
        try:
            inject = injector(backend, queue)
            bad = bad_messages(count, str(out))
            valid = 0
            for n, (_, data) in enumerate(bad):
                inject(data)
                if n % 10 == 9:
                    queue.enqueue(RECORD, [str(out), valid, 0])
                    valid += 1

            def finished() -> bool:
                return len(Runs.read(out).done) >= valid and len(queue.failed.list()) >= count

            if backend.name in IN_PROCESS:
                queue.start()  # type: ignore[attr-defined]
                with contextlib.suppress(AssertionError):
                    wait_until(finished, 60, "every message to be handled")
                alive, code = True, 0
            else:
                process = spawn(backend, options, log)
                try:
                    with contextlib.suppress(AssertionError):
                        wait_until(finished, 60 + count * 0.1, "every message to be handled")
                    alive = process.poll() is None
                finally:
                    code = stop(process)
            records = queue.failed.list()
            reasons = collections.Counter(
                f"{r.reason}: {r.error.type}" for r in records if r.error is not None
            )
            runs = Runs.read(out)
            return MessagesResult(
                backend=backend.name,
                bad=count,
                valid=valid,
                valid_ran=sum(1 for i in range(valid) if runs.done[i] == 1),
                set_aside=len(records),
                reasons=dict(reasons),
                worker_alive=alive,
                exit_code=code,
                seconds=round(time.monotonic() - began, 1),
            )
        finally:
            with contextlib.suppress(Exception):
                queue.failed.purge()
            queue.close()
            backend.cleanup(options)


# -- the full run --------------------------------------------------------------------------------


def _print(title: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n### {title}\n")
    if not rows:
        print("(nothing ran)")
        return
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults", description=__doc__)
    parser.add_argument("--full", action="store_true", help="the published sizes (2,000 jobs)")
    parser.add_argument("--jobs", type=int, help="jobs per crash run (default 200; --full 2000)")
    parser.add_argument("--kills", type=int, help="SIGKILLs per crash run (default 5; --full 10)")
    parser.add_argument("--messages", type=int, help="bad messages (default 200; --full 1000)")
    parser.add_argument("--backend", action="append", help="only these backends (repeatable)")
    parser.add_argument(
        "--part", action="append", choices=["crash", "graceful", "input", "messages"]
    )
    args = parser.parse_args(argv)
    # The refusals part 5 provokes are logged by design; show only what goes wrong.
    logging.basicConfig(level=logging.CRITICAL)
    jobs = args.jobs or (2000 if args.full else 200)
    kills = args.kills or (10 if args.full else 5)
    count = args.messages or (1000 if args.full else 200)
    parts = args.part or ["crash", "graceful", "input", "messages"]
    chosen = [BACKENDS[name] for name in (args.backend or BACKENDS)]
    problems: list[str] = []
    crash_rows, graceful_rows, input_rows, message_rows = [], [], [], []
    for backend in chosen:
        reason = backend.missing()
        if reason:
            print(f"{backend.name}: skipped ({reason})", file=sys.stderr)
            continue
        print(f"{backend.name}: running", file=sys.stderr, flush=True)
        if "crash" in parts and backend.name not in IN_PROCESS:
            c = crash(backend, jobs, kills, seed=jobs + kills)
            problems += [f"{backend.name} crash: {p}" for p in c.problems()]
            crash_rows.append(
                {
                    "backend": c.backend,
                    "delivery": c.delivery,
                    "jobs": c.jobs,
                    "kills": c.kills,
                    "in hand at kills": sum(c.in_hand_at_kills),
                    "lost": c.lost,
                    "duplicated": c.duplicated,
                    "seconds": c.seconds,
                }
            )
        if "graceful" in parts and backend.name not in IN_PROCESS:
            g = graceful(backend)
            problems += [f"{backend.name} graceful: {p}" for p in g.problems()]
            graceful_rows.append(vars(g))
        if "input" in parts:
            results = bad_input(backend)
            for r in results:
                problems += [f"{backend.name} input: {p}" for p in r.problems()]
            input_rows.append(
                {
                    "backend": backend.name,
                    "cases": len(results),
                    "typed errors": sum(r.typed for r in results),
                    "messages name value and fix": sum(r.named for r in results),
                    "partially enqueued": sum(r.enqueued for r in results),
                }
            )
        if "messages" in parts:
            m = messages(backend, count)
            problems += [f"{backend.name} messages: {p}" for p in m.problems()]
            row = vars(m).copy()
            row["reasons"] = "; ".join(f"{k} {v}" for k, v in sorted(m.reasons.items()))
            message_rows.append(row)
    _print("1. Worker crash (SIGKILL of the worker and its children)", crash_rows)
    _print("2. Graceful shutdown (SIGTERM mid-batch)", graceful_rows)
    _print("4. Bad input at enqueue", input_rows)
    _print("5. Bad messages at the worker", message_rows)
    print("\nproblems:", *(problems or ["none"]), sep="\n- ")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
