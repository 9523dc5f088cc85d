"""The transactional outbox: jobs written with the app's data, relayed at-least-once, in order."""

from __future__ import annotations

import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import queuekit
from queuekit import InvalidArguments, Job, UnknownJob
from queuekit.base import BaseQueue
from queuekit.outbox import Outbox, Relay, adapt, pending, schema
from tests.apps import durable_jobs

ROOT = Path(__file__).resolve().parent.parent
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
RECORD = "durable.record"
JOBS_APP = ["--app", "tests.apps.durable_jobs:collector"]


def make_queue(path: Path, **options: Any) -> BaseQueue:
    """A sqlite queue at ``path`` with the durable jobs registered."""
    queue = queuekit.create_queue(backend="sqlite", path=str(path), **options)
    return durable_jobs.collector.register_jobs(queue)


def app_db(path: Path) -> sqlite3.Connection:
    """The application's SQLite database: an orders table beside the outbox."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, item TEXT)")
    Outbox(table="queuekit_outbox").create_table(conn)
    conn.commit()
    return conn


def target_rows(queue: BaseQueue) -> list[tuple[str, str, list[Any]]]:
    """(queue, job id, args) of every job in a sqlite target, in the order they arrived."""
    conn = sqlite3.connect(queue.options["path"])
    rows = conn.execute("SELECT queue, id, message FROM queuekit_jobs ORDER BY rowid").fetchall()
    conn.close()
    return [(q, job_id, queuekit.Envelope.decode(message).args) for q, job_id, message in rows]


@pytest.fixture
def target(tmp_path: Path) -> Iterator[BaseQueue]:
    """The backend the relay sends to: a sqlite queue of its own."""
    queue = make_queue(tmp_path / "target.db")
    yield queue
    queue.close()


# -- writing ---------------------------------------------------------------------------------


def test_committed_job_is_relayed_under_its_id(tmp_path: Path, target: BaseQueue) -> None:
    """A job written with the order's INSERT exists once the transaction commits, and the relay
    hands it to the backend under the id enqueue returned; the outbox is then empty."""
    conn = app_db(tmp_path / "app.db")
    outbox = Outbox(target)
    with conn:
        conn.execute("INSERT INTO orders (item) VALUES ('book')")
        job_id = outbox.enqueue(conn, RECORD, [str(tmp_path / "out"), 1])
    with Relay(target, f"sqlite:///{tmp_path / 'app.db'}") as relay:
        assert relay.run_once() == (1, 0)
    assert target_rows(target) == [("default", job_id, [str(tmp_path / "out"), 1])]
    assert pending(conn) == []


def test_rolled_back_job_is_never_relayed(tmp_path: Path, target: BaseQueue) -> None:
    """A rollback takes the outbox row with the order: the relay finds nothing to send."""
    conn = app_db(tmp_path / "app.db")
    with pytest.raises(RuntimeError, match="payment declined"), conn:
        conn.execute("INSERT INTO orders (item) VALUES ('book')")
        Outbox(target).enqueue(conn, RECORD, ["x", 1])
        raise RuntimeError("payment declined")
    assert conn.execute("SELECT COUNT(*) FROM orders").fetchone() == (0,)
    with Relay(target, f"sqlite:///{tmp_path / 'app.db'}") as relay:
        assert relay.run_once() == (0, 0)
    assert target_rows(target) == []


def test_outbox_validates_like_enqueue_and_writes_nothing_on_error(
    tmp_path: Path, target: BaseQueue
) -> None:
    """Unknown jobs, non-JSON arguments and unsupported options are refused before any write."""
    conn = app_db(tmp_path / "app.db")
    outbox = Outbox(target)
    with pytest.raises(UnknownJob, match=r"No job named 'durable\.recrod'.*Did you mean"):
        outbox.enqueue(conn, "durable.recrod", ["x", 1])
    with pytest.raises(InvalidArguments, match=r"args\[1\] is a set"):
        outbox.enqueue(conn, RECORD, ["x", {1}])
    with pytest.raises(InvalidArguments, match="Unknown enqueue option 'dealy'"):
        outbox.enqueue(conn, RECORD, ["x", 1], dealy=5)
    conn.commit()
    assert pending(conn) == []


def test_enqueue_job_carries_the_options_of_using(tmp_path: Path, target: BaseQueue) -> None:
    """``enqueue_job(conn, job.using(queue=..., priority=...))`` keeps those options in the row."""
    conn = app_db(tmp_path / "app.db")
    record = Job(durable_jobs.record, RECORD).using(backend=target, queue="mail", priority=5)
    with conn:
        job_id = Outbox().enqueue_job(conn, record, "path", 7)
    with Relay(target, f"sqlite:///{tmp_path / 'app.db'}") as relay:
        relay.run_once()
    result = target.get_result(job_id)
    assert (result.queue, result.job_name) == ("mail", RECORD)
    stored = sqlite3.connect(target.options["path"]).execute(
        "SELECT priority FROM queuekit_jobs WHERE id = ?", (job_id,)
    )
    assert stored.fetchone() == (5,)


def test_rows_of_each_queue_arrive_in_enqueue_order(tmp_path: Path, target: BaseQueue) -> None:
    """Interleaved queues relayed in batches of 2 keep each queue's order."""
    conn = app_db(tmp_path / "app.db")
    outbox = Outbox(target)
    with conn:
        for i in range(12):
            outbox.enqueue(conn, RECORD, ["x", i], queue="even" if i % 2 == 0 else "odd")
    with Relay(target, f"sqlite:///{tmp_path / 'app.db'}", batch=2) as relay:
        assert relay.run_once() == (12, 0)
    rows = target_rows(target)
    assert [args[1] for q, _, args in rows if q == "even"] == [0, 2, 4, 6, 8, 10]
    assert [args[1] for q, _, args in rows if q == "odd"] == [1, 3, 5, 7, 9, 11]


def test_two_sqlite_relays_take_turns_without_duplicates(tmp_path: Path, target: BaseQueue) -> None:
    """Two relays on one SQLite outbox (BEGIN IMMEDIATE per batch), run at once on threads,
    deliver every job exactly once and keep each queue's order."""
    conn = app_db(tmp_path / "app.db")
    outbox = Outbox(target)
    with conn:
        for i in range(300):
            outbox.enqueue(conn, RECORD, ["x", i], queue=f"q{i % 3}")
    relays = [Relay(target, f"sqlite:///{tmp_path / 'app.db'}", batch=7) for _ in range(2)]
    counts: list[int] = []
    threads = [
        threading.Thread(target=lambda r=relay: counts.append(r.run_once()[0])) for relay in relays
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for relay in relays:
        relay.close()
    assert sum(counts) == 300
    rows = target_rows(target)
    assert len({job_id for _, job_id, _ in rows}) == 300
    for index in range(3):
        assert [args[1] for q, _, args in rows if q == f"q{index}"] == list(range(index, 300, 3))


def test_crash_after_send_redelivers_the_same_job_id(
    tmp_path: Path, target: BaseQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relay that sent a batch but died before deleting it sends it again, under the same id."""
    conn = app_db(tmp_path / "app.db")
    with conn:
        job_id = Outbox(target).enqueue(conn, RECORD, ["x", 1])
    relay = Relay(target, f"sqlite:///{tmp_path / 'app.db'}")
    sent: list[str] = []
    dispatch = target._dispatch

    def spy(envelopes: list[queuekit.Envelope]) -> list[str]:
        sent.extend(e.id for e in envelopes)
        return dispatch(envelopes)

    monkeypatch.setattr(target, "_dispatch", spy)
    real_mark = relay._mark

    def die_on_delete(db: Any, ids: Any, sql: str, *params: Any) -> None:
        if sql.startswith("DELETE"):
            raise KeyboardInterrupt("relay killed")
        real_mark(db, ids, sql, *params)

    monkeypatch.setattr(relay, "_mark", die_on_delete)
    with pytest.raises(KeyboardInterrupt):
        relay.run_once()
    assert [p.rows for p in pending(conn)] == [1]
    monkeypatch.setattr(relay, "_mark", real_mark)
    assert relay.run_once() == (1, 0)
    relay.close()
    assert sent == [job_id, job_id]
    assert [row[1] for row in target_rows(target)] == [job_id]


def test_failed_send_keeps_rows_and_records_the_error(tmp_path: Path) -> None:
    """A backend that refuses a batch leaves it in the outbox with attempts and the error, and
    the relay goes on with the other queues."""
    broken = make_queue(tmp_path / "target.db")
    conn = app_db(tmp_path / "app.db")
    with conn:
        Outbox(broken).enqueue(conn, RECORD, ["x", 1], queue="mail")
        Outbox(broken).enqueue(conn, RECORD, ["x", 2], queue="stats")

    def refuse(envelopes: list[queuekit.Envelope]) -> list[str]:
        if envelopes[0].queue == "mail":
            raise ConnectionError("mail broker at redis://u:hunter2@mx/0 is down")
        return [e.id for e in envelopes]

    broken._dispatch = refuse  # type: ignore[method-assign]
    with Relay(broken, f"sqlite:///{tmp_path / 'app.db'}") as relay:
        assert relay.run_once() == (1, 1)
    [left] = pending(conn)
    assert (left.queue, left.rows, left.max_attempts) == ("mail", 1, 1)
    assert left.last_error == "ConnectionError: mail broker at redis://u:***@mx/0 is down"


def test_schema_refuses_other_databases_and_odd_table_names() -> None:
    """Only PostgreSQL and SQLite have a schema; table names must be identifiers."""
    with pytest.raises(queuekit.ConfigurationError, match="supports PostgreSQL and SQLite"):
        schema("mysql", "queuekit_outbox")  # type: ignore[arg-type]
    with pytest.raises(queuekit.ConfigurationError, match="not a plain SQL identifier"):
        Outbox(table="outbox; DROP TABLE orders")


def test_adapt_refuses_an_unknown_connection_naming_what_works() -> None:
    """An object that is no supported connection is refused with the list of what works."""
    with pytest.raises(queuekit.ConfigurationError, match="pass a DB-API connection"):
        adapt(object())


# -- the CLI with a real broker outage -----------------------------------------------------


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis(port: int, directory: Path) -> subprocess.Popen[bytes]:
    """A private redis-server on ``port`` (the test's broker, which it stops and restarts)."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed")
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=directory,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError(f"redis-server did not start on port {port}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a child process and wait for it."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def queuekit_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``python -m queuekit *args`` from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "queuekit", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


PRODUCER = """
import sqlite3, sys
import queuekit
from queuekit.outbox import Outbox
from tests.apps import durable_jobs

# The web process: its queue is configured (rq on the broker), but the broker is never touched
# at commit time: the jobs go into the outbox with the orders.
queue = durable_jobs.collector.register_jobs(
    queuekit.create_queue(backend="rq", url=sys.argv[2], connect_timeout=0.5)
)
conn = sqlite3.connect(sys.argv[1])
outbox = Outbox(queue)
for i in range(int(sys.argv[4])):
    with conn:
        conn.execute("INSERT INTO orders (item) VALUES (?)", (f"order {i}",))
        outbox.enqueue(conn, "durable.record", [sys.argv[3], i])
print("committed")
"""


@pytest.mark.redis
@pytest.mark.skipif(
    not __import__("importlib").util.find_spec("queuekit_rq"), reason="queuekit-rq not installed"
)
def test_broker_down_at_commit_loses_nothing(tmp_path: Path) -> None:
    """Orders commit while the broker (Redis) is stopped; the relay process keeps the jobs and
    retries; once Redis is back they are delivered, and an rq worker process runs each once."""
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    database = tmp_path / "app.db"
    app_db(database).close()
    out = tmp_path / "runs"
    jobs = 20

    produced = subprocess.run(
        [sys.executable, "-c", PRODUCER, str(database), url, str(out), str(jobs)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert produced.stdout.strip() == "committed", produced.stderr
    relay_log = tmp_path / "relay.log"
    relay_args = [
        *("outbox", "relay", "--database", f"sqlite:///{database}"),
        *("--backend", "rq", "--url", url, "-o", "connect_timeout=0.5"),
        *("--poll-interval", "0.1", "--max-backoff", "0.5", "-l", str(relay_log)),
    ]
    relay = subprocess.Popen([sys.executable, "-m", "queuekit", *relay_args], cwd=ROOT)
    broker = None
    try:
        deadline = time.monotonic() + 30
        while "stay in the outbox" not in _read(relay_log) and time.monotonic() < deadline:
            time.sleep(0.05)
        status = queuekit_cli("outbox", "status", "--database", f"sqlite:///{database}")
        assert f"default: {jobs} waiting" in status.stdout, status.stdout + status.stderr
        assert "Connection refused" in status.stdout
        assert not out.exists()

        broker = start_redis(port, tmp_path)
        deadline = time.monotonic() + 30
        while status.stdout.splitlines()[-1:] != ["0 jobs waiting in the outbox"] and (
            time.monotonic() < deadline
        ):
            time.sleep(0.1)
            status = queuekit_cli("outbox", "status", "--database", f"sqlite:///{database}")
        assert status.stdout.strip().endswith("0 jobs waiting in the outbox"), status.stdout
        stop(relay)
        assert relay.returncode == 0, _read(relay_log)

        worker = queuekit_cli(
            "worker", "--backend", "rq", "--url", url, "--burst", *JOBS_APP, timeout=120
        )
        assert worker.returncode == 0, worker.stderr
    finally:
        stop(relay)
        if broker is not None:
            stop(broker)
    runs = sorted(int(line.split()[0]) for line in out.read_text().splitlines())
    assert runs == list(range(jobs))
    log = _read(relay_log)
    assert "the backend 'rq' refused them: RedisUnavailable" in log
    assert "jobs of queue 'default'" in log.split("refused them")[-1]


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


# -- PostgreSQL --------------------------------------------------------------------------------


@pytest.fixture
def pg() -> Iterator[tuple[Any, str]]:
    """A psycopg connection to the test database and a fresh outbox table name, dropped after."""
    psycopg = pytest.importorskip("psycopg")
    table = f"qk_outbox_{uuid.uuid4().hex[:10]}"
    conn = psycopg.connect(PG_URL)
    conn.execute(f"CREATE TABLE {table}_orders (id SERIAL PRIMARY KEY, item TEXT)")
    conn.commit()
    yield conn, table
    conn.rollback()
    conn.execute(f"DROP TABLE IF EXISTS {table}")
    conn.execute(f"DROP TABLE IF EXISTS {table}_orders")
    conn.commit()
    conn.close()


@pytest.mark.postgres
def test_postgres_commit_relays_and_rollback_does_not(
    pg: tuple[Any, str], target: BaseQueue
) -> None:
    """On PostgreSQL (psycopg), a committed job is relayed and a rolled-back one never is."""
    conn, table = pg
    outbox = Outbox(target, table=table)
    outbox.create_table(conn)
    conn.commit()
    kept = outbox.enqueue(conn, RECORD, ["x", 1])
    conn.execute(f"INSERT INTO {table}_orders (item) VALUES ('kept')")
    conn.commit()
    outbox.enqueue(conn, RECORD, ["x", 2])
    conn.execute(f"INSERT INTO {table}_orders (item) VALUES ('dropped')")
    conn.rollback()
    with Relay(target, PG_URL, table=table) as relay:
        assert relay.run_once() == (1, 0)
    assert [row[1] for row in target_rows(target)] == [kept]


@pytest.mark.postgres
def test_postgres_sqlalchemy_session_writes_in_its_transaction(
    pg: tuple[Any, str], target: BaseQueue
) -> None:
    """A SQLAlchemy Session's outbox row commits with the session and vanishes with a rollback."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    from sqlalchemy.orm import Session

    conn, table = pg
    Outbox(target, table=table).create_table(conn)
    conn.commit()
    engine = sqlalchemy.create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")
    outbox = Outbox(target, table=table)
    with Session(engine) as session:
        session.execute(sqlalchemy.text(f"INSERT INTO {table}_orders (item) VALUES ('a')"))
        kept = outbox.enqueue(session, RECORD, ["x", 1])
        session.commit()
        outbox.enqueue(session, RECORD, ["x", 2])
        session.rollback()
    engine.dispose()
    assert [(p.queue, p.rows) for p in pending(conn, table)] == [("default", 1)]
    with Relay(target, PG_URL, table=table) as relay:
        assert relay.run_once() == (1, 0)
    assert [row[1] for row in target_rows(target)] == [kept]


@pytest.mark.postgres
def test_postgres_relays_skip_a_queue_another_relay_holds(
    pg: tuple[Any, str], target: BaseQueue
) -> None:
    """While one relay holds queue 'mail' (its head row locked), a second relay sends every
    other queue and leaves 'mail' alone: SKIP LOCKED, never two relays on one queue."""
    conn, table = pg
    outbox = Outbox(target, table=table)
    outbox.create_table(conn)
    for i in range(3):
        for name in ("mail", "stats", "audit"):
            outbox.enqueue(conn, RECORD, [name, i], queue=name)
    conn.commit()
    first = Relay(target, PG_URL, table=table)
    holder, db = first._connection()
    claimed = first._claim(db, [])  # transaction left open: 'mail' is held
    assert [row[1] for row in claimed] == ["mail"] * 3
    with Relay(target, PG_URL, table=table) as second:
        assert second.run_once() == (6, 0)
    assert sorted({q for q, _, _ in target_rows(target)}) == ["audit", "stats"]
    holder.rollback()
    first.close()
    with Relay(target, PG_URL, table=table) as third:
        assert third.run_once() == (3, 0)
    assert [args for q, _, args in target_rows(target) if q == "mail"] == [
        ["mail", 0],
        ["mail", 1],
        ["mail", 2],
    ]


@pytest.mark.postgres
def test_postgres_three_relay_processes_deliver_each_job_once_in_order(
    pg: tuple[Any, str], tmp_path: Path, target: BaseQueue
) -> None:
    """Three `queuekit outbox relay` processes drain 600 jobs on 4 queues: every job arrives
    exactly once and each queue keeps its order."""
    conn, table = pg
    outbox = Outbox(target, table=table)
    outbox.create_table(conn)
    queues = ["q0", "q1", "q2", "q3"]
    for i in range(600):
        outbox.enqueue(conn, RECORD, ["x", i], queue=queues[i % 4])
    conn.commit()
    args = [
        *("outbox", "relay", "--database", PG_URL, "--table", table, "--batch", "20"),
        *("--backend", "sqlite", "-o", f"path={target.options['path']}"),
        *("--poll-interval", "0.1"),
    ]
    logs = [tmp_path / f"relay{i}.log" for i in range(3)]
    relays = [
        subprocess.Popen([sys.executable, "-m", "queuekit", *args, "-l", str(log)], cwd=ROOT)
        for log in logs
    ]
    try:
        deadline = time.monotonic() + 60
        while pending(conn, table) and time.monotonic() < deadline:
            conn.rollback()
            time.sleep(0.1)
        conn.rollback()
    finally:
        for relay in relays:
            stop(relay)
    assert [relay.returncode for relay in relays] == [0, 0, 0]
    rows = target_rows(target)
    assert len(rows) == 600 and len({job_id for _, job_id, _ in rows}) == 600
    for index, name in enumerate(queues):
        assert [args[1] for q, _, args in rows if q == name] == list(range(index, 600, 4))
    texts = [log.read_text() for log in logs]
    assert not [text for text in texts if "Traceback" in text]
    sent = [
        int(line.split("sent ")[1].split()[0])
        for t in texts
        for line in t.splitlines()
        if " sent " in line
    ]
    assert sum(sent) == 600  # no batch was sent twice
