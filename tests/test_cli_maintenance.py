"""`queuekit failed list|show|retry|purge`, `purge` and `prune` against the sqlite backend."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from queuekit import JobStatus
from queuekit.backends.sqlite import SqliteQueue
from tests.apps import durable_jobs

ROOT = Path(__file__).resolve().parent.parent


def cli(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "queuekit",
            *args,
            "--url",
            f"sqlite://{db}",
            "--app",
            "tests.apps.durable_jobs:collector",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def queue(tmp_path: Path) -> SqliteQueue:
    return durable_jobs.collector.register_jobs(SqliteQueue(path=str(tmp_path / "jobs.db")))  # type: ignore[return-value]


def test_failed_list_show_retry_purge(queue: SqliteQueue, tmp_path: Path) -> None:
    """A failed job is listed, shown with its traceback, retried under its id, then purged."""
    db, needed = Path(queue.path), tmp_path / "needed.txt"
    job_id = queue.enqueue("durable.needs", [str(needed)])
    other = queue.enqueue("durable.needs", [str(tmp_path / "never")])
    assert cli(db, "worker", "--burst").returncode == 0
    assert queue.get_result(job_id).status is JobStatus.FAILED

    listed = cli(db, "failed", "list")
    assert listed.returncode == 0 and "2 failed jobs" in listed.stdout
    assert job_id in listed.stdout and "FileNotFoundError" in listed.stdout

    shown = cli(db, "failed", "show", job_id)
    record = json.loads(shown.stdout)
    assert record["reason"] == "exhausted" and record["envelope"]["args"] == [str(needed)]
    assert "in needs" in record["error"]["traceback"]

    needed.write_text("fixed")
    assert cli(db, "failed", "retry", job_id).stdout.strip() == f"requeued {job_id}"
    assert cli(db, "worker", "--burst").returncode == 0
    result = queue.get_result(job_id)
    assert (result.status, result.return_value, result.attempts) == (
        JobStatus.SUCCEEDED,
        "fixed",
        2,
    )

    assert f"{other}" in cli(db, "failed", "list").stdout
    assert cli(db, "failed", "purge").stdout.strip() == "purged 1 failed jobs"
    assert "0 failed jobs" in cli(db, "failed", "list").stdout


def test_failed_show_of_an_unknown_id_says_how_to_find_ids(queue: SqliteQueue) -> None:
    """`failed show` of an unknown id exits 2 pointing at `queuekit failed list`."""
    done = cli(Path(queue.path), "failed", "show", "nope")
    assert done.returncode == 2
    assert "No failed job 'nope'" in done.stderr and "queuekit failed list" in done.stderr


def test_failed_retry_all_requeues_every_failed_job(queue: SqliteQueue, tmp_path: Path) -> None:
    """`failed retry --all` requeues each failed job and empties the store."""
    ids = [queue.enqueue("durable.needs", [str(tmp_path / f"f{i}")]) for i in range(3)]
    cli(Path(queue.path), "worker", "--burst")
    done = cli(Path(queue.path), "failed", "retry", "--all")
    assert sorted(done.stdout.split()) == sorted(["requeued"] * 3 + ids)
    assert queue.failed.list() == [] and queue.count() == 3


def test_purge_and_prune_commands(queue: SqliteQueue, tmp_path: Path) -> None:
    """`purge --queue` deletes that queue's waiting jobs; `prune --older-than 0` finished ones."""
    out = str(tmp_path / "out")
    queue.enqueue_many("durable.record", [[out, i] for i in range(4)])
    queue.enqueue("durable.record", [out, 9], queue="other")
    db = Path(queue.path)
    assert cli(db, "purge", "--queue", "default").stdout.strip() == "deleted 4 waiting jobs"
    assert cli(db, "worker", "--burst", "-Q", "other").returncode == 0
    assert cli(db, "prune", "--older-than", "3600").stdout.strip() == "deleted 0 finished jobs"
    assert cli(db, "prune", "--older-than", "0").stdout.strip() == "deleted 1 finished jobs"


def test_purge_on_a_backend_that_cannot_says_so(tmp_path: Path) -> None:
    """`purge` on the memory backend exits 2 naming the backend."""
    done = subprocess.run(
        [sys.executable, "-m", "queuekit", "purge", "--backend", "memory"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "Backend 'memory' cannot purge" in done.stderr
