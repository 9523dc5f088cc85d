"""The README's main job runs as documented: a producer and a worker process on one SQLite file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quickstart_runs_jobs_in_a_worker_process() -> None:
    """examples/quickstart.py prints each job's outcome, computed in another process."""
    done = subprocess.run(
        [sys.executable, "examples/quickstart.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    out = done.stdout
    assert "job mail.send" in out and "succeeded -> sent to alice@example.org" in out
    assert "job stats.write" in out and "succeeded -> 42" in out
    assert "job report.broken" in out and "failed -> RuntimeError: no data for 2026-11-23" in out
    assert "failed-job store: [('report.broken'" in out
    assert "worker stopped gracefully: exit status 0" in out
    producer = int(out.split("producer pid ")[1].split(":")[0])
    workers = {
        int(line.split("[worker pid ")[1].split("]")[0])
        for line in out.splitlines()
        if "[worker pid " in line
    }
    assert workers and producer not in workers
    assert "Traceback" in done.stderr  # the failure was logged with its traceback by the worker
