"""The embedded durable backend: one SQLite file shared by producers and workers on one host.

Delivery is at-least-once: a worker claims a job with a lease that it renews while the job
runs; a job whose worker died (SIGKILL, power loss) is claimed again once its lease expires.
Idle workers sleep on a FIFO next to the database that producers write a byte to, so a new
job is picked up at once without polling; a slow poll remains as the fallback.

Job ids made by this backend begin with their enqueue time (13 hex digits of microseconds,
then 19 random ones): the id names the job's row, so an enqueue writes no index of ids.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import logging
import os
import select
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

from ..base import BaseQueue
from ..envelope import Envelope, json_writer
from ..exceptions import ConfigurationError, ResultUnavailable
from ..options import Option
from ..results import ErrorInfo, JobResult, JobStatus
from ..runtime import Outcome
from ..stores import FailedJob, FailedStore, LockStore
from ..worker import PollingWorker, Received, run_processes

logger = logging.getLogger("queuekit.sqlite")

SCHEMA_VERSION = 2

# A job's row sits at the rowid (seq) its id names: the id's first 13 hex digits, its enqueue
# time in microseconds (see build_envelope). Lookups by id need no index of ids, and an enqueue
# writes two b-trees (the table, where new rows append, and the ready index), as huey's does,
# instead of three (schema 1's unique index of random ids took a third of an enqueue's page
# writes and a random page of it per job). A row whose seq could not be its id's (two
# producers in one microsecond, an id of another form) is marked ``indexed`` and found
# through a partial index of ids; rows are claimed in (priority, run_at, seq) order. A seq is
# its job's enqueue time, so prune finds old rows by seq, without an index of finish times
# that each finished job would write (a quarter of a worker's page writes).
_JOBS = """CREATE TABLE queuekit_jobs (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL,
        indexed INTEGER NOT NULL DEFAULT 0,
        queue TEXT NOT NULL,
        job TEXT NOT NULL,
        priority INTEGER NOT NULL,
        run_at REAL NOT NULL,
        state TEXT NOT NULL,
        message TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        enqueued_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        lease_until REAL,
        worker TEXT,
        deliveries INTEGER NOT NULL DEFAULT 0,
        result TEXT,
        error TEXT
    )"""

_JOB_INDEXES = (
    """CREATE UNIQUE INDEX queuekit_jobs_ids ON queuekit_jobs (id) WHERE indexed = 1""",
    """CREATE INDEX queuekit_jobs_ready ON queuekit_jobs (queue, priority DESC, run_at)
        WHERE state = 'queued'""",
    """CREATE INDEX queuekit_jobs_leases ON queuekit_jobs (lease_until) WHERE state = 'running'""",
)

_SCHEMA = (
    """CREATE TABLE queuekit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
    _JOBS,
    *_JOB_INDEXES,
    """CREATE TABLE queuekit_failed (id TEXT PRIMARY KEY, failed_at REAL NOT NULL,
        record TEXT NOT NULL)""",
    """CREATE TABLE queuekit_locks (key TEXT PRIMARY KEY, job_id TEXT NOT NULL,
        expires REAL NOT NULL)""",
)

# Schema 1 kept rows in rowid order with a unique index of ids; its rows move over as indexed.
_MIGRATE_1 = (
    "ALTER TABLE queuekit_jobs RENAME TO queuekit_jobs_1",
    "DROP INDEX queuekit_jobs_ready",
    "DROP INDEX queuekit_jobs_leases",
    "DROP INDEX queuekit_jobs_finished",
    _JOBS,
    """INSERT INTO queuekit_jobs SELECT rowid, id, 1, queue, job, priority, run_at, state,
        message, attempt, enqueued_at, started_at, finished_at, lease_until, worker, deliveries,
        result, error FROM queuekit_jobs_1""",
    "DROP TABLE queuekit_jobs_1",
    *_JOB_INDEXES,
)

_RESET = """queue = excluded.queue, job = excluded.job, priority = excluded.priority,
    run_at = excluded.run_at, state = 'queued', message = excluded.message,
    attempt = excluded.attempt, started_at = NULL, finished_at = NULL, lease_until = NULL,
    worker = NULL, result = NULL"""

# A job at the seq its id names (parameters: seq, then _row's); nothing is written when that
# seq holds another job (_INSERT_INDEXED then).
_INSERT_AT = f"""
INSERT INTO queuekit_jobs (seq, id, queue, job, priority, run_at, state, message, attempt,
    enqueued_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7, ?8, ?9)
ON CONFLICT (seq) DO UPDATE SET {_RESET} WHERE id = excluded.id
"""

# A job at the next free seq, found through the index of ids (the same parameters; ?1 unused).
_INSERT_INDEXED = f"""
INSERT INTO queuekit_jobs (id, indexed, queue, job, priority, run_at, state, message, attempt,
    enqueued_at)
VALUES (?2, 1, ?3, ?4, ?5, ?6, 'queued', ?7, ?8, ?9)
ON CONFLICT (id) WHERE indexed = 1 DO UPDATE SET {_RESET}
"""

# The seq of job ?2 (whose id names seq ?1).
_LOCATE = (
    "SELECT seq FROM queuekit_jobs WHERE seq = ?1 AND id = ?2 "
    "UNION ALL SELECT seq FROM queuekit_jobs WHERE id = ?2 AND indexed = 1 LIMIT 1"
)

# A job's outcome, written by the worker that holds it.
_FINISH = (
    "UPDATE queuekit_jobs SET state = ?, attempt = ?, started_at = ?, finished_at = ?, "
    "result = ?, error = ?, lease_until = NULL WHERE seq = ? AND worker = ?"
)

_dumps = json_writer()

_STATES = {
    "running": JobStatus.RUNNING,
    "succeeded": JobStatus.SUCCEEDED,
    "failed": JobStatus.FAILED,
    "canceled": JobStatus.CANCELED,
}


def _own_seq(envelope: Envelope) -> int:
    """The seq of a job whose id build_envelope made, its enqueue time in microseconds; -1 for
    any other id (its row is indexed)."""
    seq = _seq_of(envelope.id)
    return seq if seq == int(envelope.enqueued_at * 1_000_000) else -1


def _seq_of(job_id: str) -> int:
    """The seq a job's id names (its first 13 hex digits); -1 for an id of another form."""
    if len(job_id) == 32:
        try:
            return int(job_id[:13], 16)
        except ValueError:
            pass
    return -1


def _write_again(conn: sqlite3.Connection, row: tuple[Any, ...]) -> None:
    """Write a job that may be stored already (a later attempt, sent again by the failed
    store's retry) over its row, wherever that is; a first attempt is a new job, whose id was
    just made, and goes straight to _INSERT_AT."""
    found = conn.execute(_LOCATE, row[:2]).fetchone()
    if found is not None:
        row = (found[0], *row[1:])
    if row[0] < 0 or not conn.execute(_INSERT_AT, row).rowcount:
        conn.execute(_INSERT_INDEXED, row)


def _row(envelope: Envelope) -> tuple[Any, ...]:
    """The parameters of _INSERT_AT and _INSERT_INDEXED."""
    options = envelope.options
    # The message as text, without Envelope.encode's bytes and the decode back: the writer
    # escapes every non-ASCII character, so the text is as long as the encoded bytes.
    message = _dumps(envelope.to_dict())
    codec = envelope.codec
    if codec is not None and codec.max_bytes and len(message) > codec.max_bytes:
        envelope.encode()  # raises, naming the size and the fix
    return (
        _own_seq(envelope),
        envelope.id,
        envelope.queue,
        envelope.job,
        int(options.get("priority", 0)),
        float(options.get("eta", envelope.enqueued_at)),
        message,
        envelope.attempt,
        envelope.enqueued_at,
    )


# A forked child opens connections of its own; comparing with this costs less than getpid().
_pid = os.getpid()


def _after_fork() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_after_fork)


# A claim is a SELECT of the next due job and an UPDATE of its row by seq, in one BEGIN
# IMMEDIATE transaction: an UPDATE ... RETURNING of a subquery's row opens an ephemeral table for
# the rows it returns, 22k instructions a claim more (callgrind, in-process drain).
@functools.lru_cache(maxsize=16)
def _next_sql(queues: int) -> str:
    """The next due job of one of ``queues`` queues (built once per count)."""
    marks = ",".join("?" * queues)
    return (
        f"SELECT seq, message FROM queuekit_jobs WHERE state = 'queued' AND queue IN ({marks}) "
        f"AND run_at <= ? ORDER BY priority DESC, run_at, seq LIMIT 1"
    )


_TAKE = (
    "UPDATE queuekit_jobs SET state = 'running', started_at = ?, lease_until = ?, worker = ?, "
    "deliveries = deliveries + 1 WHERE seq = ?"
)


def _dt(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, timezone.utc) if value else None


def path_from_url(url: str) -> str:
    """``sqlite:///var/lib/app/jobs.db`` -> ``/var/lib/app/jobs.db``; ``sqlite://jobs.db`` -> ``jobs.db``."""
    parts = urlsplit(url)
    if parts.scheme != "sqlite":
        raise ConfigurationError(
            f"The sqlite backend takes sqlite:///path/to/jobs.db URLs, got {url!r}."
        )
    path = unquote(parts.netloc + parts.path)
    if path.startswith("//"):  # SQLAlchemy's four-slash absolute form
        path = path[1:]
    if not path or path == "/":
        raise ConfigurationError(
            f"The URL {url!r} names no database file; write sqlite:///var/lib/app/jobs.db."
        )
    return path


class SqliteQueue(BaseQueue):
    """Jobs in a SQLite table; several producer and worker processes share the file."""

    backend_name: ClassVar[str] = "sqlite"

    supports_delay: ClassVar[bool] = True  # run_at column; idle workers sleep until the next one
    supports_priority: ClassVar[bool] = True  # claimed by priority DESC, then run_at, then FIFO
    supports_results: ClassVar[bool] = True  # state, value and error in the job's row
    supports_retries: ClassVar[bool] = True  # the runtime re-queues the row with a later run_at
    supports_timeout: ClassVar[bool] = True  # SIGALRM in each single-threaded worker process
    supports_named_queues: ClassVar[bool] = True  # a queue column; workers pick theirs
    supports_bulk: ClassVar[bool] = True  # enqueue_many is one transaction
    supports_cancel: ClassVar[bool] = True  # a queued row turns canceled and is never claimed
    supports_unique: ClassVar[bool] = True  # a locks table, checked in one transaction
    supports_failed_store: ClassVar[bool] = True  # a failed table
    delivery: ClassVar[str] = "at-least-once"  # type: ignore[assignment]  # leases expire and redeliver

    capability_notes: ClassVar[dict[str, str]] = {
        "retries": "emulated by the worker runtime (the row is re-queued with a later run_at)",
        "timeout": "the job is stopped by SIGALRM: each worker process runs one job at a time",
        "delivery": "at-least-once: a job whose worker died runs again after its lease expires",
    }

    options_schema: ClassVar[dict[str, Option]] = {
        "path": Option(str, None, "the database file (or url='sqlite:///path/to/jobs.db')"),
        "lease": Option(float, 30.0, "seconds a claimed job stays invisible unless renewed"),
        "poll_interval": Option(float, 1.0, "longest an idle worker sleeps between looks"),
        "result_ttl": Option(float, 7 * 24 * 3600.0, "seconds finished jobs are kept; 0 keeps all"),
        "busy_timeout": Option(float, 30.0, "seconds to wait for another process's write lock"),
        "synchronous": Option(
            str,
            "NORMAL",
            "SQLite synchronous pragma: NORMAL or FULL",
            choices=("NORMAL", "FULL", "OFF"),
        ),
        "shared": Option(bool, False, "allow a database that already holds other tables"),
    }

    def __init__(self, options: dict[str, Any] | None = None, /, **kwargs: Any) -> None:
        super().__init__(options, **kwargs)
        path = self.options["path"] or (path_from_url(self.url) if self.url else None)
        if not path:
            raise ConfigurationError(
                "The sqlite backend needs a database file: url='sqlite:///var/lib/app/jobs.db' "
                "or path='jobs.db'."
            )
        self.path = str(Path(path).expanduser())
        self.lease: float = self.options["lease"]
        self._local = threading.local()
        self._wake = _Wake(self.path + ".wake")
        self._worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._next_reclaim = 0.0
        self._check_schema()
        self.failed_store = SqliteFailedStore(self)
        self.locks = SqliteLocks(self)

    # -- connections ----------------------------------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (a forked child opens its own)."""
        local = self._local
        conn: sqlite3.Connection | None = getattr(local, "conn", None)
        if conn is None or local.pid != _pid:
            conn = self._connect()
            # the worker's claims run on one cursor: 1.3k instructions fewer a statement
            # than Connection.execute's new cursor each
            local.conn, local.pid, local.cursor = conn, _pid, conn.cursor()
        return conn

    def _connect(self) -> sqlite3.Connection:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self.options["busy_timeout"],
                isolation_level=None,
                check_same_thread=False,
            )
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            conn.execute(f"PRAGMA synchronous={self.options['synchronous']}")
        except sqlite3.DatabaseError as exc:
            raise ConfigurationError(
                f"{self.path!r} is not a usable SQLite database ({exc}); point the sqlite backend "
                f"at a new file or at a queuekit database."
            ) from exc
        if mode.lower() != "wal":
            logger.warning(
                "%s: journal_mode is %s, not WAL; concurrency will suffer", self.path, mode
            )
        return conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction taken at BEGIN (IMMEDIATE), so it never fails half-way on a lock."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _check_schema(self) -> None:
        try:
            with self.transaction() as conn:
                tables = {
                    row[0]
                    for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                }
                if "queuekit_meta" in tables:
                    row = conn.execute(
                        "SELECT value FROM queuekit_meta WHERE key = 'schema_version'"
                    ).fetchone()
                    if row is not None and row[0] == "1":
                        for statement in _MIGRATE_1:
                            conn.execute(statement)
                        conn.execute(
                            "UPDATE queuekit_meta SET value = ? WHERE key = 'schema_version'",
                            (str(SCHEMA_VERSION),),
                        )
                        return
                    if row is None or row[0] != str(SCHEMA_VERSION):
                        raise ConfigurationError(
                            f"{self.path!r} holds queuekit schema version "
                            f"{row[0] if row else 'unknown'}, but this queuekit uses version "
                            f"{SCHEMA_VERSION}; use a new database file."
                        )
                    return
                foreign = sorted(t for t in tables if not t.startswith("sqlite_"))
                if foreign and not self.options["shared"]:
                    raise ConfigurationError(
                        f"{self.path!r} is another application's database (tables: "
                        f"{', '.join(foreign[:5])}); give queuekit a file of its own, or pass "
                        f"shared=true to add queuekit's tables beside them."
                    )
                for statement in _SCHEMA:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO queuekit_meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                )
        except sqlite3.DatabaseError as exc:
            raise ConfigurationError(
                f"{self.path!r} is not a usable SQLite database ({exc}); point the sqlite backend "
                f"at a new file or at a queuekit database."
            ) from exc

    # -- producer -------------------------------------------------------------------------------

    def build_envelope(
        self,
        name: str,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> Envelope:
        """The base class's envelope, its id's first 13 hex digits replaced by its enqueue time
        in microseconds: still 32 hex digits, 76 bits of them random. Those digits are the seq
        the job's row is written at: new rows append to the table, and no index of ids is
        written."""
        envelope = BaseQueue.build_envelope(self, name, args, kwargs, options)
        envelope.id = f"{int(envelope.enqueued_at * 1_000_000):013x}{envelope.id[13:]}"
        return envelope

    def _send(self, envelope: Envelope) -> None:
        row = _row(envelope)
        if envelope.attempt == 1:
            conn = self.connection()
            if row[0] < 0 or not conn.execute(_INSERT_AT, row).rowcount:
                conn.execute(_INSERT_INDEXED, row)
        else:
            with self.transaction() as conn:
                _write_again(conn, row)
        self._wake.notify()

    def _send_many(self, envelopes: list[Envelope]) -> None:
        rows = [_row(envelope) for envelope in envelopes]
        with self.transaction() as conn:
            if any(row[0] < 0 or row[7] != 1 for row in rows) or (
                conn.executemany(_INSERT_AT, rows).rowcount != len(rows)
            ):
                # Some jobs' seqs were taken, their ids were of another form, or they were
                # stored before: write each where it belongs (rewriting a job of this batch
                # that was written above changes nothing).
                for row in rows:
                    _write_again(conn, row)
        self._wake.notify()

    def _get_result(self, job_id: str) -> JobResult:
        row = (
            self.connection()
            .execute(
                "SELECT job, queue, state, run_at, attempt, enqueued_at, started_at, finished_at, "
                "result, error FROM queuekit_jobs WHERE seq = ("
                f"{_LOCATE})",
                (_seq_of(job_id), job_id),
            )
            .fetchone()
        )
        if row is None:
            raise ResultUnavailable(
                f"No job {job_id!r} in {self.path!r}: it was never enqueued here, or it finished "
                f"more than result_ttl={self.options['result_ttl']:g} s ago and was pruned."
            )
        job, queue, state, run_at, attempt, enqueued, started, finished, result, error = row
        if state == "queued":
            status = JobStatus.SCHEDULED if run_at > time.time() else JobStatus.QUEUED
        else:
            status = _STATES[state]
        return JobResult(
            id=job_id,
            job_name=job,
            status=status,
            queue=queue,
            return_value=json.loads(result) if result is not None else None,
            error=ErrorInfo.from_dict(json.loads(error)) if error else None,
            enqueued_at=_dt(enqueued),
            started_at=_dt(started),
            finished_at=_dt(finished),
            attempts=attempt,
            backend=self,
        )

    def _cancel(self, job_id: str) -> bool:
        cursor = self.connection().execute(
            "UPDATE queuekit_jobs SET state = 'canceled', finished_at = ?3 "
            f"WHERE seq = ({_LOCATE}) AND state = 'queued'",
            (_seq_of(job_id), job_id, time.time()),
        )
        return cursor.rowcount == 1

    def count(self, queue: str | None = None) -> int:
        row = (
            self.connection()
            .execute(
                "SELECT COUNT(*) FROM queuekit_jobs WHERE state = 'queued' AND queue = ?",
                (queue or self.default_queue,),
            )
            .fetchone()
        )
        return int(row[0])

    def purge(self, queue: str | None = None) -> int:
        """Delete every waiting job (of ``queue``, or of all queues); returns how many."""
        if queue is None:
            cursor = self.connection().execute("DELETE FROM queuekit_jobs WHERE state = 'queued'")
        else:
            cursor = self.connection().execute(
                "DELETE FROM queuekit_jobs WHERE state = 'queued' AND queue = ?", (queue,)
            )
        return cursor.rowcount

    def prune(self, older_than: float | None = None) -> int:
        """Delete finished jobs older than ``older_than`` seconds (default: result_ttl)."""
        age = self.options["result_ttl"] if older_than is None else older_than
        before = time.time() - age
        # A job finished before ``before`` was enqueued before it, so its seq (its enqueue time
        # in microseconds) is at most this; an indexed row's seq is not its enqueue time.
        finished = "finished_at < ?2 AND state IN ('succeeded', 'failed', 'canceled')"
        with self.transaction() as conn:
            deleted = conn.execute(
                f"DELETE FROM queuekit_jobs WHERE seq <= ?1 AND {finished}",
                (int(before * 1_000_000), before),
            ).rowcount
            deleted += conn.execute(
                f"DELETE FROM queuekit_jobs WHERE indexed = 1 AND {finished}", (None, before)
            ).rowcount
        return deleted

    def put_raw(self, data: bytes | str, queue: str | None = None) -> str:
        """Store a message exactly as given, as a broker would deliver it (worker tests)."""
        row_id = f"raw-{uuid.uuid4().hex}"
        text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
        now = time.time()
        self.connection().execute(
            _INSERT_INDEXED, (-1, row_id, queue or self.default_queue, "?", 0, now, text, 1, now)
        )
        self._wake.notify()
        return row_id

    # -- worker ---------------------------------------------------------------------------------

    def _reclaim_expired(self) -> None:
        now = time.time()
        if now < self._next_reclaim:
            return
        self._next_reclaim = now + max(self.lease / 4, 0.05)
        cursor = self.connection().execute(
            "UPDATE queuekit_jobs SET state = 'queued', lease_until = NULL, worker = NULL "
            "WHERE state = 'running' AND lease_until < ?",
            (now,),
        )
        if cursor.rowcount:
            logger.warning(
                "%s: %d jobs were held by a worker that stopped renewing its lease; "
                "delivering them again",
                self.path,
                cursor.rowcount,
            )

    def _claim(self, queues: Sequence[str]) -> Received | None:
        """Take the next due job; the previous job's outcome (see ``_ack``) is written in the
        same transaction."""
        now = time.time()
        if now >= self._next_reclaim:
            self._reclaim_expired()
        local = self._local
        finished = getattr(local, "finished", None)
        self.connection()
        cur: sqlite3.Cursor = local.cursor  # each execute resets the statement before it
        select, due = _next_sql(len(queues)), (*queues, now)
        if finished is None and cur.execute(select, due).fetchone() is None:
            return None  # nothing due, and nothing to write: no write lock taken
        # transaction()'s BEGIN IMMEDIATE ... COMMIT, without the context manager's cost; the
        # write lock is held from BEGIN, so the row selected is still queued at the UPDATE.
        cur.execute("BEGIN IMMEDIATE")
        try:
            if finished is not None:
                cur.execute(_FINISH, finished)
            row = cur.execute(select, due).fetchone()
            if row is not None:
                cur.execute(_TAKE, (now, now + self.lease, self._worker_id, row[0]))
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")
        local.finished = None
        return Received(row[1], row[0]) if row else None

    def _write_finished(self) -> None:
        """Write an outcome ``_ack`` left for the next claim (the worker is stopping)."""
        finished = getattr(self._local, "finished", None)
        if finished is not None:
            self.connection().execute(_FINISH, finished)
            self._local.finished = None

    def _next_due(self, queues: Sequence[str]) -> float | None:
        marks = ",".join("?" * len(queues))
        row = (
            self.connection()
            .execute(
                f"SELECT MIN(run_at) FROM queuekit_jobs WHERE state = 'queued' AND queue IN ({marks})",
                tuple(queues),
            )
            .fetchone()
        )
        return float(row[0]) if row and row[0] is not None else None

    def _fetch(
        self, queues: Sequence[str], timeout: float, stop: threading.Event | None = None
    ) -> Received | None:
        if stop is not None and stop.is_set():
            self._write_finished()
            return None
        received = self._claim(queues)
        if received is not None:
            return received  # the busy path: no deadline to keep
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            due = self._next_due(queues)
            sleep = min(remaining, self.options["poll_interval"])
            if due is not None:
                sleep = min(sleep, max(due - time.time(), 0.0))
            if sleep > 0:
                self._wake.wait(sleep)
            if stop is not None and stop.is_set():
                self._write_finished()
                return None
            received = self._claim(queues)
            if received is not None:
                return received

    def _record(self, outcome: Outcome) -> None:
        # The final state is written when the message is acknowledged; a retry keeps the error.
        if outcome.retry_in is not None and outcome.job_id and outcome.error:
            self.connection().execute(
                f"UPDATE queuekit_jobs SET error = ?3 WHERE seq = ({_LOCATE})",
                (_seq_of(outcome.job_id), outcome.job_id, json.dumps(outcome.error.to_dict())),
            )

    def _retry(self, envelope: Envelope, delay: float) -> None:
        again = Envelope.from_dict({**envelope.to_dict(), "attempt": envelope.attempt + 1})
        run_at = time.time() + delay
        if delay > 0:
            again.options["eta"] = run_at
        else:
            again.options.pop("eta", None)
        self.connection().execute(
            "UPDATE queuekit_jobs SET state = 'queued', run_at = ?3, message = ?4, attempt = ?5, "
            f"started_at = NULL, lease_until = NULL, worker = NULL WHERE seq = ({_LOCATE})",
            (_seq_of(envelope.id), envelope.id, run_at, again.encode().decode(), again.attempt),
        )
        self._wake.notify()

    def _ack(self, received: Received, outcome: Outcome) -> None:
        if outcome.retry_in is not None:
            return  # _retry already put the row back in the queue
        state = {JobStatus.SUCCEEDED: "succeeded"}.get(outcome.status, "failed")
        # Written with the next claim, in one transaction (a commit fewer per job); the worker
        # claims again at once, and writes it alone when it stops.
        self._local.finished = (
            state,
            outcome.envelope.attempt if outcome.envelope else 1,
            outcome.started_at or None,
            outcome.finished_at or time.time(),
            # None is stored as NULL, which _get_result reads back as None, as it does "null"
            _dumps(value)
            if outcome.succeeded and (value := outcome.return_value) is not None
            else None,
            _dumps(outcome.error.to_dict()) if outcome.error else None,
            received.token,
            self._worker_id,
        )

    def _renew_leases(self, stop: threading.Event) -> None:
        """Keep this worker's jobs invisible to others while they run."""
        while not stop.wait(self.lease / 3):
            try:
                self.connection().execute(
                    "UPDATE queuekit_jobs SET lease_until = ? WHERE state = 'running' AND worker = ?",
                    (time.time() + self.lease, self._worker_id),
                )
                if self.options["result_ttl"] > 0:
                    self.prune()
            except sqlite3.Error:
                logger.exception("%s: renewing leases failed", self.path)

    def run_worker(
        self,
        *,
        queues: Sequence[str] | None = None,
        concurrency: int | None = None,
        burst: bool = False,
    ) -> None:
        """Work ``queues`` with ``concurrency`` single-threaded processes (1: this process)."""
        names = list(queues or [self.default_queue])
        if (concurrency or 1) > 1:
            run_processes(lambda: self._work(names, burst), concurrency or 1)
            return
        self._work(names, burst)

    def _work(self, queues: list[str], burst: bool) -> None:
        self._worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake.listen()
        stop = threading.Event()
        renewer = threading.Thread(target=self._renew_leases, args=(stop,), daemon=True)
        renewer.start()
        try:
            PollingWorker(self, queues, 1, burst, poll_timeout=self.options["poll_interval"]).run()
        finally:
            self._write_finished()
            stop.set()
            self._wake.close()

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == _pid:
            self._write_finished()
            conn.close()
            self._local.conn = None
        self._wake.close()


class _Wake:
    """A FIFO beside the database: producers write a byte, an idle worker's select() wakes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._reader: int | None = None
        self._writer: int | None = None
        self._retry_at = 0.0

    def listen(self) -> None:
        try:
            with contextlib.suppress(FileExistsError):
                os.mkfifo(self.path, 0o600)
            self._reader = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            logger.info("%s: no wake-up FIFO (%s); idle workers poll", self.path, exc)
            self._reader = None

    def wait(self, timeout: float) -> None:
        if self._reader is None:
            time.sleep(timeout)
            return
        ready, _, _ = select.select([self._reader], [], [], timeout)
        if ready:
            try:
                data = os.read(self._reader, 4096)
            except BlockingIOError:
                return
            if not data:  # every writer closed; without a pause select() would spin
                time.sleep(min(timeout, 0.01))

    def notify(self) -> None:
        if self._writer is None:
            now = time.monotonic()
            if now < self._retry_at:
                return
            try:
                self._writer = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # no FIFO or no worker listening: nobody to wake
                self._retry_at = now + 0.5
                return
        try:
            os.write(self._writer, b"\0")
        except BlockingIOError:
            pass  # the pipe is full of wake-ups already
        except OSError as exc:
            if exc.errno in (errno.EPIPE, errno.ENXIO):
                os.close(self._writer)
                self._writer = None
            else:
                raise

    def close(self) -> None:
        for fd in (self._reader, self._writer):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._reader = self._writer = None


class SqliteFailedStore(FailedStore):
    """Failed jobs in the queuekit_failed table of the queue's database."""

    def __init__(self, queue: SqliteQueue) -> None:
        self.queue = queue

    def add(self, record: FailedJob) -> None:
        self.queue.connection().execute(
            "INSERT OR REPLACE INTO queuekit_failed VALUES (?, ?, ?)",
            (record.id, record.failed_at, json.dumps(record.to_dict())),
        )

    def list(self, limit: int | None = None) -> list[FailedJob]:
        rows = self.queue.connection().execute(
            "SELECT record FROM queuekit_failed ORDER BY failed_at DESC LIMIT ?",
            (-1 if limit is None else limit,),
        )
        return [FailedJob.from_dict(json.loads(row[0])) for row in rows]

    def get(self, job_id: str) -> FailedJob | None:
        row = (
            self.queue.connection()
            .execute("SELECT record FROM queuekit_failed WHERE id = ?", (job_id,))
            .fetchone()
        )
        return FailedJob.from_dict(json.loads(row[0])) if row else None

    def remove(self, job_id: str) -> bool:
        cursor = self.queue.connection().execute(
            "DELETE FROM queuekit_failed WHERE id = ?", (job_id,)
        )
        return cursor.rowcount == 1

    def purge(self) -> int:
        return self.queue.connection().execute("DELETE FROM queuekit_failed").rowcount


class SqliteLocks(LockStore):
    """Uniqueness locks in the queuekit_locks table, taken in one write transaction."""

    def __init__(self, queue: SqliteQueue) -> None:
        self.queue = queue

    def claim(self, key: str, job_id: str, ttl: float) -> str | None:
        now = time.time()
        with self.queue.transaction() as conn:
            row = conn.execute(
                "SELECT job_id, expires FROM queuekit_locks WHERE key = ?", (key,)
            ).fetchone()
            if row is not None and row[1] > now:
                return str(row[0])
            conn.execute(
                "INSERT OR REPLACE INTO queuekit_locks VALUES (?, ?, ?)", (key, job_id, now + ttl)
            )
        return None

    def release(self, key: str, job_id: str) -> None:
        self.queue.connection().execute(
            "DELETE FROM queuekit_locks WHERE key = ? AND job_id = ?", (key, job_id)
        )
