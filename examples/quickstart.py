"""The quick start: a producer process enqueues jobs, a worker process runs them, on one SQLite file.

    python examples/quickstart.py

The jobs do not know which engine runs them; only the configuration below does. Change
QUEUEKIT_BACKEND/QUEUEKIT_URL (for example to rq and redis://localhost:6379/0) and nothing
else changes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import queuekit
from queuekit import JobStatus, job


@job("mail.send", retries=2, backoff=0.2)
def send_mail(to: str, subject: str) -> str:
    print(f"  [worker pid {os.getpid()}] sending {subject!r} to {to}", flush=True)
    return f"sent to {to}"


@job("stats.write")
def write_stats(counts: dict[str, int]) -> int:
    total = sum(counts.values())
    print(f"  [worker pid {os.getpid()}] writing statistics: {total} events", flush=True)
    return total


@job("report.broken")
def broken_report(day: str) -> None:
    raise RuntimeError(f"no data for {day}")


def main() -> None:
    database = Path(tempfile.mkdtemp(prefix="queuekit-quickstart-")) / "jobs.db"
    config = {"QUEUEKIT_BACKEND": "sqlite", "QUEUEKIT_URL": f"sqlite://{database}"}
    queue = queuekit.register_app(config)
    assert queue is not None
    print(f"producer pid {os.getpid()}: {queue!r}")

    repo = Path(__file__).resolve().parent.parent
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "queuekit",
            "worker",
            "--app",
            "examples.quickstart",
            "--url",
            f"sqlite://{database}",
            "--concurrency",
            "2",
            "--loglevel",
            "ERROR",
        ],
        cwd=repo,
    )
    print(f"worker pid {worker.pid}: queuekit worker --app examples.quickstart --concurrency 2")

    results = [
        send_mail.enqueue("alice@example.org", subject="Your one-time password"),
        write_stats.enqueue({"auth_ok": 41, "auth_fail": 1}),
        broken_report.enqueue("2026-11-23"),
    ]
    for result in results:
        final = result.wait(timeout=30)
        shown = final.return_value if final.status is JobStatus.SUCCEEDED else final.error
        print(f"job {final.job_name} ({final.id[:8]}): {final.status} -> {shown}")
    failed = queue.failed.list()
    print(f"failed-job store: {[(f.job_name, str(f.error)) for f in failed]}")

    worker.send_signal(signal.SIGTERM)
    print(f"worker stopped gracefully: exit status {worker.wait(30)}")


if __name__ == "__main__":
    main()
