"""The transactional outbox: a job is written into the application's own database, in the same
transaction as the data it is about, and a relay moves committed rows to the configured backend.

A job enqueued this way exists exactly when the transaction commits: a rollback leaves nothing,
and a broker that is down at commit time loses nothing (the row waits until the relay can send
it). Delivery from the outbox is at-least-once: a relay that dies after sending and before
deleting the row sends it again, under the same job id.

Writing (any DB-API connection to PostgreSQL or SQLite, a SQLAlchemy ``Connection``/``Session``
or a Django connection)::

    outbox = Outbox()                          # validates against the app's queue
    with psycopg.connect(dsn) as conn:         # one transaction
        conn.execute("INSERT INTO orders ...")
        outbox.enqueue_job(conn, send_mail, "alice@example.org", subject="Order 42")

Relaying: ``queuekit outbox relay --database postgresql://... --backend rq --url redis://...``
or :class:`Relay` in code. Order: rows of one queue are sent in the order of their outbox ids;
on PostgreSQL each relay holds the head row of the queue it works (``FOR UPDATE SKIP LOCKED``),
so several relays share the queues and never reorder one. Rows are visible to a relay when
their transaction commits: two transactions that commit in the other order than they inserted
may be sent in commit order.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .base import BaseQueue
from .envelope import Envelope
from .exceptions import ConfigurationError
from .jobs import Job, get_job_queue
from .redact import redact

logger = logging.getLogger("queuekit.outbox")

DEFAULT_TABLE = "queuekit_outbox"

Dialect = Literal["postgresql", "sqlite"]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")

_COLUMNS = "queue, job_id, job, message, created_at"


def _check_table(table: str) -> str:
    if not _IDENTIFIER.match(table):
        raise ConfigurationError(
            f"Outbox table name {table!r} is not a plain SQL identifier; use letters, digits "
            f"and underscores, optionally schema-qualified (app.queuekit_outbox)."
        )
    return table


def schema(dialect: Dialect, table: str = DEFAULT_TABLE) -> list[str]:
    """The statements that create the outbox table and its index (idempotent), for migrations."""
    _check_table(table)
    index = f"{table.rsplit('.', 1)[-1]}_queue_id"
    if dialect == "postgresql":
        create = (
            f"CREATE TABLE IF NOT EXISTS {table} (id BIGSERIAL PRIMARY KEY, queue TEXT NOT NULL, "
            f"job_id TEXT NOT NULL, job TEXT NOT NULL, message TEXT NOT NULL, "
            f"created_at DOUBLE PRECISION NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, "
            f"last_error TEXT)"
        )
    elif dialect == "sqlite":
        create = (
            f"CREATE TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            f"queue TEXT NOT NULL, job_id TEXT NOT NULL, job TEXT NOT NULL, message TEXT NOT NULL, "
            f"created_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT)"
        )
    else:
        raise ConfigurationError(
            f"The outbox supports PostgreSQL and SQLite, not {dialect!r}; use a backend "
            f"directly, or after-commit enqueue (queuekit.sqlalchemy, queuekit.contrib.django)."
        )
    return [create, f"CREATE INDEX IF NOT EXISTS {index} ON {table} (queue, id)"]


# -- talking to the caller's connection ------------------------------------------------------


@dataclass
class _Db:
    """A connection of any supported kind, seen as (dialect, execute)."""

    dialect: Dialect
    run: Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]


def _dialect(name: str, what: object) -> Dialect:
    if name in ("postgresql", "postgres"):
        return "postgresql"
    if name == "sqlite":
        return "sqlite"
    raise ConfigurationError(
        f"{type(what).__name__} talks to {name!r}; the outbox supports PostgreSQL and SQLite."
    )


def _cursor_runner(conn: Any, placeholder: str) -> Callable[[str, Sequence[Any]], list[Any]]:
    def run(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        cursor = conn.cursor()
        try:
            cursor.execute(sql.replace("?", placeholder), tuple(params))
            return list(cursor.fetchall()) if cursor.description else []
        finally:
            cursor.close()

    return run


def adapt(conn: Any) -> _Db:
    """Recognise ``conn``: a DB-API connection (sqlite3, psycopg 3, psycopg2), a SQLAlchemy
    ``Session``/``Connection``, or a Django connection. Statements join its open transaction."""
    module = type(conn).__module__
    if module.startswith("sqlalchemy"):
        if hasattr(conn, "dialect"):
            sa_conn = conn  # a Connection
        elif hasattr(conn, "get_bind"):
            sa_conn = conn.connection()  # a Session: its connection, in its transaction
        elif hasattr(conn, "driver_connection"):
            return adapt(conn.driver_connection)  # engine.raw_connection()
        else:
            raise ConfigurationError(
                f"The outbox cannot write through a {type(conn).__qualname__}; pass a SQLAlchemy "
                f"Session or Connection (for an AsyncSession: await session.run_sync(...))."
            )
        from sqlalchemy import text  # only SQLAlchemy callers get here

        def run_sa(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
            names = {f"p{i}": value for i, value in enumerate(params)}
            numbered = iter(range(len(params)))
            statement = re.sub(r"\?", lambda _: f":p{next(numbered)}", sql)
            result = sa_conn.execute(text(statement), names)
            return [tuple(row) for row in result] if result.returns_rows else []

        return _Db(_dialect(sa_conn.dialect.name, conn), run_sa)
    if module.startswith("sqlite3"):
        return _Db("sqlite", _cursor_runner(conn, "?"))
    if module.startswith(("psycopg", "psycopg2")):
        return _Db("postgresql", _cursor_runner(conn, "%s"))
    if module.startswith("django"):
        # Django's cursors take %s on every database and translate it themselves.
        return _Db(_dialect(conn.vendor, conn), _cursor_runner(conn, "%s"))
    raise ConfigurationError(
        f"The outbox cannot write through a {module}.{type(conn).__qualname__}; pass a DB-API "
        f"connection (sqlite3, psycopg, psycopg2), a SQLAlchemy Session or Connection, or a "
        f"Django connection."
    )


class Outbox:
    """Writes jobs into the outbox table through the caller's connection and transaction.

    ``queue`` validates each call exactly as ``queue.enqueue`` would (registered job, JSON
    arguments, options, signing, size); by default it is the app's queue (``get_job_queue()``).
    """

    def __init__(self, queue: BaseQueue | None = None, *, table: str = DEFAULT_TABLE) -> None:
        self._queue = queue
        self.table = _check_table(table)

    @property
    def queue(self) -> BaseQueue:
        return self._queue if self._queue is not None else get_job_queue()

    def create_table(self, conn: Any) -> None:
        """Create the outbox table and its index if they are missing (inside ``conn``'s
        transaction; commit it yourself)."""
        db = adapt(conn)
        for statement in schema(db.dialect, self.table):
            db.run(statement, ())

    def enqueue(
        self,
        conn: Any,
        name: str,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> str:
        """Write one call of job ``name`` into the outbox in ``conn``'s transaction; returns the
        job id it will run under once the transaction commits and the relay sends it."""
        envelope = self.queue.build_envelope(name, args, kwargs, options)
        return self.write(conn, [envelope])[0]

    def enqueue_job(self, conn: Any, job: Job[Any, Any], *args: Any, **kwargs: Any) -> str:
        """Like ``job.enqueue(*args, **kwargs)`` (with the options of ``job.using(...)``), into the
        outbox in ``conn``'s transaction; returns the job id."""
        queue = job._queue if job._queue is not None else self.queue
        envelope = queue.build_envelope(job.name, args, kwargs, job._call_options)
        return self.write(conn, [envelope])[0]

    def write(self, conn: Any, envelopes: Sequence[Envelope]) -> list[str]:
        """Insert already-built envelopes (see ``BaseQueue.build_envelope``); returns their ids."""
        db = adapt(conn)
        sql = f"INSERT INTO {self.table} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
        now = time.time()
        for envelope in envelopes:
            db.run(
                sql, (envelope.queue, envelope.id, envelope.job, envelope.encode().decode(), now)
            )
        return [envelope.id for envelope in envelopes]

    def pending(self, conn: Any) -> list[PendingQueue]:
        """What waits in the outbox, per queue: rows, the oldest's age, attempts, last error."""
        return pending(conn, self.table)


@dataclass(frozen=True)
class PendingQueue:
    """The rows of one queue waiting in the outbox."""

    queue: str
    rows: int
    oldest_age: float
    max_attempts: int
    last_error: str | None


def pending(conn: Any, table: str = DEFAULT_TABLE) -> list[PendingQueue]:
    """What waits in the outbox table behind ``conn``, per queue."""
    db = adapt(conn)
    rows = db.run(
        f"SELECT queue, COUNT(*), MIN(created_at), MAX(attempts) FROM {_check_table(table)} "
        f"GROUP BY queue ORDER BY queue",
        (),
    )
    now = time.time()
    found = []
    for queue, count, oldest, attempts in rows:
        error = db.run(
            f"SELECT last_error FROM {table} WHERE queue = ? AND last_error IS NOT NULL "
            f"ORDER BY id LIMIT 1",
            (queue,),
        )
        found.append(
            PendingQueue(
                queue,
                int(count),
                now - float(oldest),
                int(attempts),
                error[0][0] if error else None,
            )
        )
    return found


# -- the relay ---------------------------------------------------------------------------------


def connect(database: str) -> Any:
    """A new DB-API connection for a relay: ``postgresql://...`` (psycopg 3, else psycopg2) or
    ``sqlite:///path/to/app.db``. SQLAlchemy-style driver suffixes (``+psycopg``) are ignored."""
    scheme, sep, rest = database.partition("://")
    base = scheme.split("+", 1)[0]
    if not sep or base not in ("postgresql", "postgres", "sqlite"):
        raise ConfigurationError(
            f"--database {redact(database)!r} is not a PostgreSQL or SQLite URL; write "
            f"postgresql://user@host/dbname or sqlite:///path/to/app.db."
        )
    if base == "sqlite":
        from .backends.sqlite import path_from_url

        return sqlite3.connect(
            path_from_url(f"sqlite://{rest}"),
            isolation_level=None,
            check_same_thread=False,
            timeout=30.0,  # wait for the application's write transactions, as they wait for ours
        )
    url = f"postgresql://{rest}"
    for driver in ("psycopg", "psycopg2"):
        try:
            module = importlib.import_module(driver)
        except ImportError:
            continue
        return module.connect(url)
    raise ConfigurationError(
        "Relaying from PostgreSQL needs a driver: pip install 'psycopg[binary]'."
    )


class Relay:
    """Moves committed outbox rows to ``target``, in id order per queue, at-least-once.

    ``database`` is a URL (see :func:`connect`) or a function returning a new DB-API connection
    (sqlite3 in autocommit mode, ``isolation_level=None``, or psycopg/psycopg2). Several relays
    may run against PostgreSQL; against SQLite each batch holds the write lock (BEGIN
    IMMEDIATE) while it is sent, so relays take turns.
    """

    def __init__(
        self,
        target: BaseQueue,
        database: str | Callable[[], Any],
        *,
        table: str = DEFAULT_TABLE,
        batch: int = 100,
        poll_interval: float = 0.5,
        max_backoff: float = 30.0,
        create_table: bool = True,
    ) -> None:
        self.target = target
        self.table = _check_table(table)
        self.batch = max(1, batch)
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.create_table = create_table
        self._connect: Callable[[], Any] = (
            (lambda: connect(database)) if isinstance(database, str) else database
        )
        self._described = redact(database) if isinstance(database, str) else repr(database)
        self._conn: Any = None
        self.stop = threading.Event()
        #: Rows delivered since the relay started.
        self.relayed = 0

    # -- the database side ------------------------------------------------------------------

    def _connection(self) -> tuple[Any, _Db]:
        if self._conn is None:
            conn = self._connect()
            db = adapt(conn)
            if db.dialect == "sqlite" and getattr(conn, "isolation_level", None) is not None:
                conn.isolation_level = None  # the relay issues BEGIN IMMEDIATE itself
            if self.create_table:
                self._begin(conn, db)
                try:
                    for statement in schema(db.dialect, self.table):
                        db.run(statement, ())
                except BaseException:
                    self._rollback(conn, db)
                    raise
                self._commit(conn, db)
            self._conn = conn
        return self._conn, adapt(self._conn)

    def _begin(self, conn: Any, db: _Db) -> None:
        if db.dialect == "sqlite":
            db.run("BEGIN IMMEDIATE", ())
        # psycopg/psycopg2 open a transaction at the first statement.

    def _commit(self, conn: Any, db: _Db) -> None:
        if db.dialect == "sqlite":
            db.run("COMMIT", ())
        else:
            conn.commit()

    def _rollback(self, conn: Any, db: _Db) -> None:
        with contextlib.suppress(Exception):
            if db.dialect == "sqlite":
                db.run("ROLLBACK", ())
            else:
                conn.rollback()

    def _disconnect(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def _claim(self, db: _Db, skip: Sequence[str]) -> list[tuple[int, str, str]]:
        """Take the head of one queue not in ``skip`` and up to ``batch`` of its rows, in order.

        On PostgreSQL the head row is locked with SKIP LOCKED: a queue whose head another relay
        holds is left to it, so no two relays ever work one queue at once.
        """
        t = self.table
        marks = ", ".join("?" * len(skip))
        not_skipped = f"AND queue NOT IN ({marks})" if skip else ""
        if db.dialect == "postgresql":
            heads = db.run(
                f"SELECT id, queue FROM {t} WHERE id IN (SELECT MIN(id) FROM {t} "
                f"WHERE TRUE {not_skipped} GROUP BY queue) ORDER BY id LIMIT 1 "
                f"FOR UPDATE SKIP LOCKED",
                tuple(skip),
            )
            if not heads:
                return []
            queue = heads[0][1]
            rows = db.run(
                f"SELECT id, queue, message FROM {t} WHERE queue = ? ORDER BY id LIMIT ? FOR UPDATE",
                (queue, self.batch),
            )
        else:
            rows = db.run(
                f"SELECT id, queue, message FROM {t} WHERE queue = (SELECT queue FROM {t} "
                f"WHERE TRUE {not_skipped} ORDER BY id LIMIT 1) ORDER BY id LIMIT ?",
                (*skip, self.batch),
            )
        return [(int(row[0]), str(row[1]), str(row[2])) for row in rows]

    def _mark(self, db: _Db, ids: Sequence[int], sql: str, *params: Any) -> None:
        marks = ", ".join("?" * len(ids))
        db.run(f"{sql} WHERE id IN ({marks})", (*params, *ids))

    # -- one pass and the loop --------------------------------------------------------------

    def run_once(self) -> tuple[int, int]:
        """Send every committed row once; returns (rows delivered, rows that failed and stay).

        A queue whose batch fails is left for this pass (its rows keep their order and are
        tried again next pass); other queues go on.
        """
        delivered = failed = 0
        failed_queues: list[str] = []
        while not self.stop.is_set():
            conn, db = self._connection()
            self._begin(conn, db)
            try:
                rows = self._claim(db, failed_queues)
                if not rows:
                    self._commit(conn, db)
                    break
                ids = [row[0] for row in rows]
                queue = rows[0][1]
                try:
                    self._send(rows)
                except Exception as exc:
                    message = redact(f"{type(exc).__name__}: {exc}")[:2000]
                    self._mark(
                        db,
                        ids,
                        f"UPDATE {self.table} SET attempts = attempts + 1, last_error = ?",
                        message,
                    )
                    self._commit(conn, db)
                    logger.error(
                        "outbox relay: %d jobs of queue %r stay in the outbox, the backend %r "
                        "refused them: %s",
                        len(ids),
                        queue,
                        self.target.backend_name,
                        message,
                    )
                    failed += len(ids)
                    failed_queues.append(queue)
                    continue
                self._mark(db, ids, f"DELETE FROM {self.table}")
                self._commit(conn, db)
            except BaseException:
                self._rollback(conn, db)
                raise
            delivered += len(ids)
            self.relayed += len(ids)
            logger.info("outbox relay: sent %d jobs of queue %r", len(ids), queue)
        return delivered, failed

    def _send(self, rows: Sequence[tuple[int, str, str]]) -> None:
        envelopes = [Envelope.decode(message, self.target.codec) for _, _, message in rows]
        for envelope in envelopes:
            if "unique_key" in envelope.options and envelope.job not in self.target.jobs:
                raise ConfigurationError(
                    f"job {envelope.job!r} is unique, and the relay does not know it: run the "
                    f"relay with --app naming the module that defines it"
                )
        self.target._dispatch(envelopes)

    def run(self) -> int:
        """Relay until :attr:`stop` is set (SIGINT/SIGTERM in the main thread); returns the rows
        delivered. A database or backend outage is logged and retried with backoff."""
        from .worker import stop_on_signals

        logger.info("outbox relay: %s table %s -> %r", self._described, self.table, self.target)
        backoff = self.poll_interval
        with stop_on_signals(self.stop):
            while not self.stop.is_set():
                try:
                    _, failed = self.run_once()
                except Exception as exc:
                    self._disconnect()
                    failed = 1
                    logger.error(
                        "outbox relay: the database %s failed: %s",
                        self._described,
                        redact(f"{type(exc).__name__}: {exc}"),
                    )
                if failed:
                    self.stop.wait(backoff)
                    backoff = min(backoff * 2, self.max_backoff)
                else:
                    backoff = self.poll_interval
                    self.stop.wait(self.poll_interval)
        self._disconnect()
        logger.info("outbox relay stopped after %d jobs", self.relayed)
        return self.relayed

    def close(self) -> None:
        self._disconnect()

    def __enter__(self) -> Relay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def _closing(conn: Any) -> Iterator[Any]:
    try:
        yield conn
    finally:
        conn.close()


def status_lines(database: str, table: str = DEFAULT_TABLE) -> list[str]:
    """``queuekit outbox status``: one line per queue waiting in the outbox."""
    with _closing(connect(database)) as conn:
        found = pending(conn, table)
        with contextlib.suppress(Exception):
            conn.rollback()
    lines = [
        f"{p.queue}: {p.rows} waiting, oldest {p.oldest_age:.1f} s, attempts {p.max_attempts}"
        + (f", last error: {p.last_error}" if p.last_error else "")
        for p in found
    ]
    total = sum(p.rows for p in found)
    return [*lines, f"{total} jobs waiting in the outbox"]


__all__ = [
    "DEFAULT_TABLE",
    "Outbox",
    "PendingQueue",
    "Relay",
    "adapt",
    "connect",
    "pending",
    "schema",
    "status_lines",
]
