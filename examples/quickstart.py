"""The quick start: declare jobs once, configure an engine, enqueue, and see what ran.

    python examples/quickstart.py

The jobs do not know which engine runs them; only the config mapping below does.
"""

from __future__ import annotations

import logging
import sys

import queuekit
from queuekit import JobStatus, job


@job("mail.send")
def send_mail(to: str, subject: str) -> str:
    print(f"  worker: sending {subject!r} to {to}")
    return f"sent to {to}"


@job("stats.write")
def write_stats(counts: dict[str, int]) -> int:
    total = sum(counts.values())
    print(f"  worker: writing statistics, {total} events")
    return total


@job("report.broken")
def broken_report(day: str) -> None:
    raise RuntimeError(f"no data for {day}")


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="  log: %(message).70s", stream=sys.stdout)
    config = {"QUEUEKIT_BACKEND": "memory", "QUEUEKIT_CONCURRENCY": "1"}
    queue = queuekit.register_app(config)
    assert queue is not None
    print(f"queue: {queue!r}")
    results = [
        send_mail.enqueue("alice@example.org", subject="Your one-time password"),
        write_stats.enqueue({"auth_ok": 41, "auth_fail": 1}),
        broken_report.enqueue("2026-11-23"),
    ]
    for result in results:
        final = result.wait(timeout=10)
        outcome = final.return_value if final.status is JobStatus.SUCCEEDED else final.error
        print(f"job {final.job_name}: {final.status} -> {outcome}")
    queue.close()


if __name__ == "__main__":
    main()
