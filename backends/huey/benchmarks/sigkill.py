"""Delivery guarantee, measured: SIGKILL a huey worker mid-run and count what happened to
every job. Run from the repository root (uses Redis db 1, flushed):

    python backends/huey/benchmarks/sigkill.py 200 4

Enqueues N jobs of 0.05 s each, starts `queuekit worker -c W`, SIGKILLs it once about a third
have run, starts a second worker to drain the rest, and counts runs per job.
"""

from __future__ import annotations

import collections
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

import queuekit
from tests.apps.durable_jobs import collector

URL = "redis://127.0.0.1:6379/1"


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    workers = sys.argv[2] if len(sys.argv) > 2 else "4"
    redis.Redis.from_url(URL).flushdb()
    out = Path(tempfile.mkdtemp()) / "runs"
    queue = queuekit.create_queue(backend="huey", url=URL)
    collector.register_jobs(queue)
    ids = queue.enqueue_many("durable.record", [[str(out), i, 0.05] for i in range(count)])
    command = [sys.executable, "-m", "queuekit", "worker", "--backend", "huey", "--url", URL]
    command += ["--app", "tests.apps.durable_jobs:collector", "-c", workers]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not out.exists() or len(out.read_text().splitlines()) < count // 3:
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait()
    statuses = collections.Counter(queue.get_result(i).status.value for i in ids)
    print(f"after SIGKILL: {dict(statuses)}; waiting in huey: {len(queue)}")
    second = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(queue) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1)
    second.send_signal(signal.SIGINT)
    second.wait(30)
    runs = collections.Counter(int(line.split()[0]) for line in out.read_text().splitlines())
    statuses = collections.Counter(queue.get_result(i).status.value for i in ids)
    never = [i for i in range(count) if runs[i] == 0]
    twice = [i for i in range(count) if runs[i] > 1]
    print(f"after a second worker: {dict(statuses)}")
    print(
        f"jobs {count}: ran once {sum(1 for i in range(count) if runs[i] == 1)}, "
        f"ran twice {len(twice)}, never ran {len(never)} {never}"
    )
    redis.Redis.from_url(URL).flushdb()


if __name__ == "__main__":
    main()
