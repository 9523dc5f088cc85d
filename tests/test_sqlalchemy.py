"""SQLAlchemy: jobs enqueued in a Session go out at commit, never on rollback; savepoints too."""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sqlalchemy = pytest.importorskip("sqlalchemy")

from sqlalchemy import text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

import queuekit  # noqa: E402
from queuekit import InvalidArguments, Job, JobStatus  # noqa: E402
from queuekit.base import BaseQueue  # noqa: E402
from queuekit.sqlalchemy import enqueue_on_commit, pending_jobs  # noqa: E402
from queuekit.testing.process import worker_process  # noqa: E402
from tests.apps import sa_jobs  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHIP = "sa.ship"


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[BaseQueue]:
    """The app's queue: sqlite, registered as the process's queue, with the sa jobs."""
    made = queuekit.register_app(
        {"QUEUEKIT_BACKEND": "sqlite", "QUEUEKIT_PATH": str(tmp_path / "jobs.db")}
    )
    assert made is not None
    sa_jobs.collector.register_jobs(made)
    yield made
    made.close()


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    """A Session on an SQLite file with an orders table."""
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT)"))
    with Session(engine) as made:
        yield made
    engine.dispose()


def sent(queue: BaseQueue) -> list[list[Any]]:
    """The args of every job the sqlite queue holds, in arrival order."""
    conn = sqlite3.connect(queue.options["path"])
    rows = conn.execute("SELECT message FROM queuekit_jobs ORDER BY rowid").fetchall()
    conn.close()
    return [queuekit.Envelope.decode(row[0]).args for row in rows]


def test_job_is_sent_at_commit_and_not_before(queue: BaseQueue, session: Session) -> None:
    """Before commit the backend holds nothing; after commit it holds the job under its id."""
    session.execute(text("INSERT INTO orders (item) VALUES ('book')"))
    job_id = enqueue_on_commit(session, SHIP, "orders", 1, "out")
    session.flush()
    assert sent(queue) == []
    assert [e.id for e in pending_jobs(session)] == [job_id]
    session.commit()
    assert sent(queue) == [["orders", 1, "out"]]
    assert queue.get_result(job_id).status is JobStatus.QUEUED
    assert pending_jobs(session) == []


def test_rollback_drops_the_job(queue: BaseQueue, session: Session) -> None:
    """A rolled-back session sends nothing, and a later commit does not resurrect the job."""
    enqueue_on_commit(session, SHIP, "orders", 1, "out")
    session.execute(text("INSERT INTO orders (item) VALUES ('book')"))
    session.rollback()
    session.commit()
    assert sent(queue) == []


def test_rolled_back_savepoint_drops_only_its_jobs(queue: BaseQueue, session: Session) -> None:
    """A job enqueued in a rolled-back begin_nested() is dropped; the outer commit sends the
    jobs enqueued before and after it, and those of a released savepoint."""
    session.execute(text("SELECT 1"))
    enqueue_on_commit(session, SHIP, "before", 1, "out")
    savepoint = session.begin_nested()
    enqueue_on_commit(session, SHIP, "in-rolled-back", 2, "out")
    savepoint.rollback()
    with pytest.raises(ValueError, match="card declined"), session.begin_nested():
        enqueue_on_commit(session, SHIP, "in-raising", 3, "out")
        raise ValueError("card declined")
    with session.begin_nested():
        enqueue_on_commit(session, SHIP, "in-released", 4, "out")
        with session.begin_nested() as inner:
            enqueue_on_commit(session, SHIP, "in-inner-rolled-back", 5, "out")
            inner.rollback()
    enqueue_on_commit(session, SHIP, "after", 6, "out")
    assert sent(queue) == []
    session.commit()
    assert [args[0] for args in sent(queue)] == ["before", "in-released", "after"]


def test_close_without_commit_drops_the_jobs(queue: BaseQueue, session: Session) -> None:
    """Closing a session that never committed discards its pending jobs."""
    session.execute(text("SELECT 1"))
    enqueue_on_commit(session, SHIP, "orders", 1, "out")
    session.close()
    session.commit()
    assert sent(queue) == [] and pending_jobs(session) == []


def test_job_enqueued_outside_a_transaction_waits_for_the_next_commit(
    queue: BaseQueue, session: Session
) -> None:
    """With no transaction begun yet, the job goes out with the session's next commit."""
    assert session.get_transaction() is None
    enqueue_on_commit(session, SHIP, "orders", 1, "out")
    assert sent(queue) == []
    session.commit()
    assert sent(queue) == [["orders", 1, "out"]]


def test_mistakes_raise_at_the_call_and_leave_nothing_pending(
    queue: BaseQueue, session: Session
) -> None:
    """Non-JSON arguments are refused where enqueue_on_commit is called, not at commit."""
    with pytest.raises(InvalidArguments, match=r"args\[1\] is bytes \(encode them"):
        enqueue_on_commit(session, SHIP, "orders", b"1", "out")
    assert pending_jobs(session) == []


def test_job_objects_keep_their_using_options(queue: BaseQueue, session: Session) -> None:
    """A Job bound with ``using(queue=...)`` is sent to that queue at commit."""
    ship = Job(sa_jobs.ship, SHIP).using(queue="shipping")
    job_id = enqueue_on_commit(session, ship, "orders", 1, "out")
    session.commit()
    assert queue.get_result(job_id).queue == "shipping"


def test_broker_failure_after_commit_is_raised_and_logged(
    queue: BaseQueue, session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    """If the backend refuses after the commit, commit() raises and the log names the lost job;
    the data stays committed (the outbox is the tool for that case)."""

    def refuse(envelopes: list[queuekit.Envelope]) -> list[str]:
        raise ConnectionError("broker is down")

    queue._dispatch = refuse  # type: ignore[method-assign]
    session.execute(text("INSERT INTO orders (item) VALUES ('book')"))
    job_id = enqueue_on_commit(session, SHIP, "orders", 1, "out")
    with (
        caplog.at_level(logging.ERROR, "queuekit.sqlalchemy"),
        pytest.raises(ConnectionError, match="broker is down"),
    ):
        session.commit()
    assert f"sa.ship {job_id}" in caplog.text and "could not be sent" in caplog.text
    assert session.execute(text("SELECT item FROM orders")).scalars().all() == ["book"]


@pytest.fixture
def pg_table() -> Iterator[str]:
    """A fresh orders table in PostgreSQL's test database, dropped afterwards."""
    psycopg = pytest.importorskip("psycopg")
    table = f"qk_sa_orders_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(sa_jobs.PG_URL) as conn:
        conn.execute(f"CREATE TABLE {table} (id SERIAL PRIMARY KEY, item TEXT)")
    yield table
    with psycopg.connect(sa_jobs.PG_URL) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")


@pytest.mark.postgres
def test_postgres_worker_process_sees_the_committed_row(
    queue: BaseQueue, pg_table: str, tmp_path: Path
) -> None:
    """On PostgreSQL, a worker process runs each committed order's job and finds the order's
    row; the rolled-back order and the rolled-back savepoint's job never run."""
    engine = sqlalchemy.create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")
    out = str(tmp_path / "shipped")
    insert = text(f"INSERT INTO {pg_table} (item) VALUES (:item) RETURNING id")
    with Session(engine) as session:
        for item in ("book", "lamp"):
            with session.begin():
                order_id = session.execute(insert, {"item": item}).scalar_one()
                enqueue_on_commit(session, SHIP, pg_table, order_id, out)
                with session.begin_nested() as savepoint:
                    enqueue_on_commit(session, SHIP, pg_table, -1, out)
                    savepoint.rollback()
        with pytest.raises(RuntimeError, match="out of stock"), session.begin():
            order_id = session.execute(insert, {"item": "ghost"}).scalar_one()
            enqueue_on_commit(session, SHIP, pg_table, order_id, out)
            raise RuntimeError("out of stock")
    engine.dispose()
    args = ["--backend", "sqlite", "-o", f"path={queue.options['path']}", "--burst"]
    with worker_process([*args, "--app", "tests.apps.sa_jobs:collector"], cwd=ROOT) as worker:
        assert worker.wait(60) == 0
    shipped = Path(out).read_text().split("\n")
    assert [line.split(" ", 1)[1] for line in shipped if line] == ["book", "lamp"]
    assert [args[1] for args in sent(queue)] == [1, 2]
