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
from pathlib import Path

import pytest

import queuekit
from queuekit import ConfigurationError, JobStatus
from queuekit.backends.sqlite import SqliteQueue, path_from_url
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


# -- queue operations -----------------------------------------------------------------------


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
    kinds = [s.split()[0] + (" RETURNING" if "RETURNING" in s else "") for s in statements]
    assert kinds[-4:] == ["BEGIN", "UPDATE", "UPDATE RETURNING", "COMMIT"], statements
    assert queue.get_result(first_id).status is JobStatus.SUCCEEDED
    queue._ack(second, queue.process(second.message))
    queue.close()
    assert make(db).get_result(second_id).status is JobStatus.SUCCEEDED
