"""The sqlite backend beyond conformance: URLs, schema checks, concurrency, crashes and shutdown."""

from __future__ import annotations

import collections
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

import queuekit
from queuekit import ConfigurationError, JobStatus
from queuekit.backends.sqlite import SqliteQueue, path_from_url
from queuekit.envelope import Envelope
from queuekit.testing.process import worker_process
from tests.apps import durable_jobs

RECORD = "durable.record"
APP = ["--app", "tests.apps.durable_jobs:collector"]


def make(db: Path, **options: object) -> SqliteQueue:
    queue = SqliteQueue(path=str(db), **options)
    durable_jobs.collector.register_jobs(queue)
    return queue


def runs(path: Path) -> collections.Counter[int]:
    """How many times each item was executed, from the lines the jobs appended."""
    if not path.exists():
        return collections.Counter()
    return collections.Counter(int(line.split()[0]) for line in path.read_text().splitlines())


def wait_until(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def start_worker(db: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "queuekit", "worker", "--url", f"sqlite://{db}", *APP, *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


# -- configuration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///var/lib/app/jobs.db", "/var/lib/app/jobs.db"),
        ("sqlite:////var/lib/app/jobs.db", "/var/lib/app/jobs.db"),
        ("sqlite://jobs.db", "jobs.db"),
        ("sqlite://data/my%20jobs.db", "data/my jobs.db"),
    ],
)
def test_url_names_the_database_file(url: str, path: str) -> None:
    """sqlite:///abs/path, SQLAlchemy's four-slash form and relative names all resolve."""
    assert path_from_url(url) == path


def test_url_without_a_file_is_refused() -> None:
    """A sqlite URL that names no file says how to write one."""
    with pytest.raises(ConfigurationError, match=r"names no database file; write sqlite:///"):
        path_from_url("sqlite://")


def test_backend_is_found_by_url_alone(tmp_path: Path) -> None:
    """create_queue('sqlite:///path') picks the sqlite backend and creates the file in WAL mode."""
    queue = queuekit.create_queue(f"sqlite://{tmp_path}/sub/jobs.db")
    assert isinstance(queue, SqliteQueue) and queue.delivery == "at-least-once"
    mode = sqlite3.connect(tmp_path / "sub" / "jobs.db").execute("PRAGMA journal_mode").fetchone()
    assert mode == ("wal",)


def test_corrupted_file_gives_a_clear_error(tmp_path: Path) -> None:
    """A file that is not a SQLite database is refused, naming it and the fix."""
    bad = tmp_path / "jobs.db"
    bad.write_bytes(b"this is not a database at all\n" * 200)
    with pytest.raises(ConfigurationError, match=r"is not a usable SQLite database .*new file"):
        SqliteQueue(path=str(bad))


def test_foreign_database_is_refused_unless_shared(tmp_path: Path) -> None:
    """Another application's database is not written to unless shared=true."""
    db = tmp_path / "app.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE users (id INTEGER)")
    with pytest.raises(
        ConfigurationError, match=r"another application's database \(tables: users\)"
    ):
        SqliteQueue(path=str(db))
    queue = SqliteQueue(path=str(db), shared="true")
    assert queue.count() == 0


def test_other_schema_version_is_refused(tmp_path: Path) -> None:
    """A database written by an incompatible queuekit schema version is refused."""
    db = tmp_path / "jobs.db"
    SqliteQueue(path=str(db)).close()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE queuekit_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(ConfigurationError, match="schema version 99, but this queuekit uses"):
        SqliteQueue(path=str(db))


# Schema 1, as queuekit 0.1's first sqlite backend wrote it (rows in rowid order, ids indexed).
_SCHEMA_1 = (
    "CREATE TABLE queuekit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "INSERT INTO queuekit_meta VALUES ('schema_version', '1')",
    """CREATE TABLE queuekit_jobs (id TEXT PRIMARY KEY, queue TEXT NOT NULL, job TEXT NOT NULL,
        priority INTEGER NOT NULL, run_at REAL NOT NULL, state TEXT NOT NULL,
        message TEXT NOT NULL, attempt INTEGER NOT NULL, enqueued_at REAL NOT NULL,
        started_at REAL, finished_at REAL, lease_until REAL, worker TEXT,
        deliveries INTEGER NOT NULL DEFAULT 0, result TEXT, error TEXT)""",
    """CREATE INDEX queuekit_jobs_ready ON queuekit_jobs (queue, priority DESC, run_at)
        WHERE state = 'queued'""",
    "CREATE INDEX queuekit_jobs_leases ON queuekit_jobs (lease_until) WHERE state = 'running'",
    """CREATE INDEX queuekit_jobs_finished ON queuekit_jobs (finished_at)
        WHERE finished_at IS NOT NULL""",
    "CREATE TABLE queuekit_failed (id TEXT PRIMARY KEY, failed_at REAL NOT NULL, record TEXT NOT NULL)",
    "CREATE TABLE queuekit_locks (key TEXT PRIMARY KEY, job_id TEXT NOT NULL, expires REAL NOT NULL)",
)


def test_schema_1_database_is_migrated_with_its_jobs(tmp_path: Path) -> None:
    """A database of schema 1 moves to the current schema, its waiting jobs kept and runnable."""
    db, out = tmp_path / "jobs.db", tmp_path / "out"
    with sqlite3.connect(db) as conn:
        for statement in _SCHEMA_1:
            conn.execute(statement)
        for item, priority in ((1, 0), (2, 5)):
            envelope = Envelope(job=RECORD, args=[str(out), item], options={"priority": priority})
            conn.execute(
                "INSERT INTO queuekit_jobs (id, queue, job, priority, run_at, state, message, "
                "attempt, enqueued_at) VALUES (?, 'default', ?, ?, ?, 'queued', ?, 1, ?)",
                (
                    envelope.id,
                    RECORD,
                    priority,
                    envelope.enqueued_at,
                    envelope.encode().decode(),
                    envelope.enqueued_at,
                ),
            )
        old_ids = [row[0] for row in conn.execute("SELECT id FROM queuekit_jobs ORDER BY rowid")]
    queue = make(db)
    version = queue.connection().execute("SELECT value FROM queuekit_meta").fetchone()
    assert version == ("2",)
    assert [queue.get_result(i).status for i in old_ids] == [JobStatus.QUEUED] * 2
    new_id = queue.enqueue(RECORD, [str(out), 3])
    assert queue.cancel(old_ids[0]) and queue.get_result(old_ids[0]).status is JobStatus.CANCELED
    claimed = queue._fetch(["default"], 0)
    assert claimed is not None and Envelope.decode(claimed.message).id == old_ids[1]
    queue._ack(claimed, queue.process(claimed.message))
    claimed = queue._fetch(["default"], 0)
    assert claimed is not None and Envelope.decode(claimed.message).id == new_id
    queue._ack(claimed, queue.process(claimed.message))
    queue.close()
    queue = make(db)
    assert queue.get_result(old_ids[1]).status is JobStatus.SUCCEEDED
    assert queue.get_result(new_id).status is JobStatus.SUCCEEDED
    assert runs(out) == {2: 1, 3: 1}


# -- queue operations -----------------------------------------------------------------------


def test_a_job_is_written_at_the_seq_its_id_names(tmp_path: Path) -> None:
    """An id starts with its enqueue time in microseconds, the row's seq, so an enqueue writes
    no index of ids; enqueue is one statement."""
    queue = make(tmp_path / "jobs.db")
    statements: list[str] = []
    queue.connection().set_trace_callback(statements.append)
    job_id = queue.enqueue(RECORD, [str(tmp_path / "out"), 1])
    assert len(statements) == 1 and statements[0].lstrip().startswith("INSERT"), statements
    queue.connection().set_trace_callback(None)
    assert len(job_id) == 32 and int(job_id, 16) >= 0
    row = (
        queue.connection().execute("SELECT seq, indexed, enqueued_at FROM queuekit_jobs").fetchone()
    )
    assert row[:2] == (int(job_id[:13], 16), 0)
    assert abs(row[0] / 1e6 - row[2]) < 1e-3


def test_jobs_whose_ids_name_one_seq_are_kept_apart(tmp_path: Path) -> None:
    """Two jobs whose ids name the same seq (two producers in one microsecond), and ids of
    another form, are stored, found, canceled, claimed, sent again and pruned each as itself."""
    db, out = tmp_path / "jobs.db", tmp_path / "out"
    queue = make(db)
    now = time.time()
    prefix = f"{int(now * 1_000_000):013x}"
    first = Envelope(job=RECORD, args=[str(out), 1], id=prefix + "a" * 19, enqueued_at=now)
    second = Envelope(job=RECORD, args=[str(out), 2], id=prefix + "b" * 19, enqueued_at=now)
    third = Envelope(job=RECORD, args=[str(out), 3], id=prefix + "c" * 19, enqueued_at=now)
    other = Envelope(job=RECORD, args=[str(out), 4], id="not-hex-" + "d" * 24)
    queue._send(first)
    queue._send(second)
    queue._send_many([third, other])
    rows = queue.connection().execute("SELECT id, indexed FROM queuekit_jobs ORDER BY seq")
    assert rows.fetchall() == [(first.id, 0), (second.id, 1), (third.id, 1), (other.id, 1)]
    ids = [first.id, second.id, third.id, other.id]
    assert [queue.get_result(i).job_name for i in ids] == [RECORD] * 4
    assert queue.cancel(third.id) and not queue.cancel(third.id)
    assert [queue.get_result(i).status for i in ids] == [
        JobStatus.QUEUED,
        JobStatus.QUEUED,
        JobStatus.CANCELED,
        JobStatus.QUEUED,
    ]
    # The failed store's retry sends a later attempt under the same id: it replaces the row.
    queue._send(replace(third, attempt=2))
    queue._send_many([replace(other, attempt=2), replace(first, attempt=2)])
    count = "SELECT COUNT(*), SUM(state = 'queued') FROM queuekit_jobs"
    assert queue.connection().execute(count).fetchone() == (4, 4)
    assert queue.get_result(third.id).attempts == 2
    done = []
    while (claimed := queue._fetch(["default"], 0)) is not None:
        done.append(Envelope.decode(claimed.message).id)
        queue._ack(claimed, queue.process(claimed.message))
    queue._write_finished()
    assert sorted(done) == sorted(ids)
    assert {queue.get_result(i).status for i in ids} == {JobStatus.SUCCEEDED}
    assert runs(out) == {1: 1, 2: 1, 3: 1, 4: 1}
    assert queue.prune(older_than=3600) == 0
    assert queue.prune(older_than=0) == 4


def test_status_moves_from_scheduled_to_queued(tmp_path: Path) -> None:
    """A delayed job reads as scheduled until its time, then as queued."""
    queue = make(tmp_path / "jobs.db")
    job_id = queue.enqueue(RECORD, [str(tmp_path / "out"), 1], delay=0.3)
    assert queue.get_result(job_id).status is JobStatus.SCHEDULED
    time.sleep(0.35)
    assert queue.get_result(job_id).status is JobStatus.QUEUED


def test_purge_and_prune(tmp_path: Path) -> None:
    """purge() deletes waiting jobs; prune() deletes finished ones older than the age given."""
    queue = make(tmp_path / "jobs.db")
    out = tmp_path / "out"
    queue.enqueue_many(RECORD, [[str(out), i] for i in range(3)])
    queue.enqueue(RECORD, [str(out), 9], queue="other")
    assert queue.purge("default") == 3 and queue.count("other") == 1
    with worker_process(["--url", f"sqlite://{tmp_path}/jobs.db", "-Q", "other", *APP]):
        wait_until(lambda: runs(out) == {9: 1}, 20, "the job on 'other'")
    assert queue.prune(older_than=3600) == 0
    assert queue.prune(older_than=0) == 1
    assert queue.purge() == 0


# -- several processes ----------------------------------------------------------------------


def test_several_producers_and_workers_run_each_job_exactly_once(tmp_path: Path) -> None:
    """Two producer processes and three worker processes: 600 jobs, each run once."""
    db, out = tmp_path / "jobs.db", tmp_path / "out"
    make(db).close()
    produce = (
        "import sys; from queuekit.backends.sqlite import SqliteQueue; "
        "from tests.apps.durable_jobs import collector; "
        "q = collector.register_jobs(SqliteQueue(path=sys.argv[1])); "
        "start = int(sys.argv[2]); "
        "[q.enqueue('durable.record', [sys.argv[3], i]) for i in range(start, start + 300)]"
    )
    producers = [
        subprocess.Popen([sys.executable, "-c", produce, str(db), str(start), str(out)])
        for start in (0, 300)
    ]
    workers = [start_worker(db), start_worker(db), start_worker(db, "-c", "2")]
    try:
        assert [p.wait(60) for p in producers] == [0, 0]
        wait_until(lambda: len(runs(out)) == 600, 60, "600 distinct jobs to run")
        time.sleep(0.5)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        assert [w.wait(30) for w in workers] == [0, 0, 0]
    counts = runs(out)
    assert set(counts) == set(range(600)) and max(counts.values()) == 1
    pids = {int(line.split()[1]) for line in out.read_text().splitlines()}
    assert len(pids) >= 2  # the work really was shared


def test_sigkill_mid_batch_loses_nothing(tmp_path: Path) -> None:
    """SIGKILLing the worker 5 times mid-batch: every job still completes (at-least-once)."""
    db, out = tmp_path / "jobs.db", tmp_path / "out"
    queue = make(db, lease=1.0)
    total = 150
    queue.enqueue_many(RECORD, [[str(out), i, 0.02] for i in range(total)])
    rng = random.Random(7)
    kills = 0
    while kills < 5:
        worker = start_worker(db, "-o", "lease=1.0")
        time.sleep(rng.uniform(0.4, 1.0))
        if worker.poll() is None:
            worker.send_signal(signal.SIGKILL)
            kills += 1
        worker.wait(10)
    assert queue.count() > 0, "the batch finished before the last kill; make jobs slower"
    worker = start_worker(db, "-o", "lease=1.0")

    def states() -> list[tuple[str, int]]:
        query = "SELECT state, COUNT(*) FROM queuekit_jobs GROUP BY state"
        return queue.connection().execute(query).fetchall()

    try:
        # A killed run may have written its line and left its job running: its lease expires
        # and the job runs again, which can come after every line is there.
        wait_until(lambda: len(runs(out)) == total, 90, "every job to run")
        wait_until(lambda: states() == [("succeeded", total)], 30, "every job to succeed")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
    counts = runs(out)
    duplicates = sum(n - 1 for n in counts.values())
    assert set(counts) == set(range(total))
    assert duplicates <= kills  # one job in hand per kill, at most
    assert queue.count() == 0
    assert states() == [("succeeded", total)]


def test_sigkill_of_a_process_pool_loses_nothing(tmp_path: Path) -> None:
    """SIGKILLing a -c 2 worker and its children mid-batch: the restarted pool finishes all."""
    db, out = tmp_path / "jobs.db", tmp_path / "out"
    queue = make(db, lease=1.0)
    queue.enqueue_many(RECORD, [[str(out), i, 0.02] for i in range(100)])
    worker = start_worker(db, "-c", "2", "-o", "lease=1.0")
    wait_until(lambda: len(runs(out)) >= 10, 30, "the pool to start working")
    for pid in [worker.pid, *children_of(worker.pid)]:
        os.kill(pid, signal.SIGKILL)
    worker.wait(10)
    with worker_process(["--url", f"sqlite://{db}", "-c", "2", "-o", "lease=1.0", *APP]):
        wait_until(lambda: len(runs(out)) == 100, 60, "every job to run")
    assert set(runs(out)) == set(range(100))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_graceful_stop_finishes_the_job_in_hand(tmp_path: Path, signum: int) -> None:
    """On SIGTERM/SIGINT the running job finishes and is recorded; waiting jobs stay queued."""
    db, out = tmp_path / "jobs.db", tmp_path / "out"
    queue = make(db)
    first = queue.enqueue(RECORD, [str(out), 1, 1.5])
    second = queue.enqueue(RECORD, [str(out), 2])
    worker = start_worker(db)
    wait_until(lambda: queue.get_result(first).status is JobStatus.RUNNING, 20, "the job to start")
    worker.send_signal(signum)
    assert worker.wait(20) == 0
    assert queue.get_result(first).status is JobStatus.SUCCEEDED
    assert queue.get_result(second).status is JobStatus.QUEUED
    assert runs(out) == {1: 1}


def test_pool_stops_gracefully_on_sigterm(tmp_path: Path) -> None:
    """A -c 3 pool forwards SIGTERM: the jobs in hand finish and nothing is left running."""
    db, out = tmp_path / "jobs.db", tmp_path / "out"
    queue = make(db)
    ids = queue.enqueue_many(RECORD, [[str(out), i, 1.0] for i in range(6)])
    worker = start_worker(db, "-c", "3")
    wait_until(
        lambda: sum(queue.get_result(i).status is JobStatus.RUNNING for i in ids) == 3,
        20,
        "three jobs to run at once",
    )
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(20) == 0
    states = [queue.get_result(i).status for i in ids]
    assert states.count(JobStatus.SUCCEEDED) == 3 and states.count(JobStatus.QUEUED) == 3


def test_idle_worker_wakes_promptly_without_busy_looping(tmp_path: Path) -> None:
    """An idle worker uses almost no CPU yet starts a new job well before its poll interval."""
    db, out = tmp_path / "jobs.db", tmp_path / "out"
    queue = make(db)
    with worker_process(["--url", f"sqlite://{db}", "-o", "poll_interval=5", *APP]) as worker:
        time.sleep(1.0)  # let it import and settle
        before = _cpu_seconds(worker.pid)
        time.sleep(2.0)
        idle_cpu = _cpu_seconds(worker.pid) - before
        latencies = []
        for i in range(5):
            job_id = queue.enqueue(RECORD, [str(out), i])
            result = queue.get_result(job_id).wait(timeout=10, interval=0.001)
            assert result.started_at and result.enqueued_at
            latencies.append((result.started_at - result.enqueued_at).total_seconds())
            time.sleep(0.3)
    assert idle_cpu < 0.2, f"idle worker used {idle_cpu:.2f} s of CPU in 2 s"
    assert sorted(latencies)[2] < 1.0, latencies  # the median, far below the 5 s poll


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_an_outcome_is_written_with_the_next_claim_and_when_the_worker_stops(
    tmp_path: Path,
) -> None:
    """A worker writes a job's outcome in the transaction that claims its next job (a commit
    fewer per job), and on its own when it stops."""
    db, out = tmp_path / "jobs.db", tmp_path / "out"
    queue = make(db)
    first_id, second_id = queue.enqueue_many(RECORD, [[str(out), 1], [str(out), 2]])
    statements: list[str] = []
    queue.connection().set_trace_callback(statements.append)
    first = queue._fetch(["default"], 0)
    assert first is not None
    queue._ack(first, queue.process(first.message))
    del statements[:]
    second = queue._fetch(["default"], 0)
    assert second is not None
    # one transaction: the first job's outcome, the next due job, and its claim
    kinds = [s.split()[0] for s in statements]
    assert kinds[-5:] == ["BEGIN", "UPDATE", "SELECT", "UPDATE", "COMMIT"], statements
    assert "'succeeded'" in statements[-4] and "'running'" in statements[-2], statements
    assert queue.get_result(first_id).status is JobStatus.SUCCEEDED
    queue._ack(second, queue.process(second.message))
    queue.close()
    assert make(db).get_result(second_id).status is JobStatus.SUCCEEDED
