"""Drain rate of `queuekit worker --backend rq` against `rq worker`, same jobs, interleaved.

    /tmp/v/bin/python backends/rq/scripts/bench_drain.py [rounds] [jobs] [worker class]

Uses Redis database 2 (rq's keys there are deleted). Each round enqueues N no-op jobs
(queuekit's `add`, or the same function enqueued natively with rq's JSON serializer), then
times a burst worker from start to exit. The native `rq worker` preloads the job module through
an rq config module, as rq's docs recommend, so its work horses do not import it per job.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
from queuekit_rq import RqQueue
from rq import Queue
from rq.defaults import RQ_KEY_PREFIX
from rq.serializers import JSONSerializer

from queuekit import call
from queuekit.testing.jobs import PREFIX, collector

URL = "redis://127.0.0.1:6379/2"


def clean(client: redis.Redis) -> None:
    """Delete rq's keys (and queuekit's, under rq's prefix) from database 2, nothing else."""
    keys = list(client.scan_iter(match=f"{RQ_KEY_PREFIX}:*", count=1000))
    for start in range(0, len(keys), 500):
        client.unlink(*keys[start : start + 500])


def main(rounds: int = 3, jobs: int = 500, worker_class: str = "rq.SimpleWorker") -> None:
    client = redis.Redis.from_url(URL)
    queue = RqQueue(url=URL)
    collector.register_jobs(queue)
    rq = str(Path(sys.executable).with_name("rq"))
    qk_cmd = [sys.executable, "-m", "queuekit", "worker", "--backend", "rq", "--url", URL]
    qk_cmd += [
        "--app",
        "queuekit.testing.jobs:collector",
        "--burst",
        "-o",
        f"worker_class={worker_class}",
    ]
    # rq's docs: preload the job modules (an rq config module) so work horses do not import them.
    preload = Path(tempfile.mkdtemp()) / "rq_preload.py"
    preload.write_text("import queuekit.testing.jobs  # noqa: F401\n")
    rq_cmd = [rq, "worker", "--url", URL, "--serializer", "json", "--burst", "-w", worker_class]
    rq_cmd += ["-q", "-c", "rq_preload", "--path", str(preload.parent)]
    rates: dict[str, list[float]] = {"queuekit": [], "rq": []}
    for _ in range(rounds):
        for name in ("queuekit", "rq"):
            clean(client)
            if name == "queuekit":
                for start in range(0, jobs, 100):
                    queue.enqueue_many(
                        PREFIX + "add", [call(i, i) for i in range(start, start + 100)]
                    )
            else:
                native = Queue("default", connection=client, serializer=JSONSerializer)
                for start in range(0, jobs, 100):
                    native.enqueue_many(
                        [
                            Queue.prepare_data("queuekit.testing.jobs.add", (i, i))
                            for i in range(start, start + 100)
                        ]
                    )
            started = time.perf_counter()
            subprocess.run(
                qk_cmd if name == "queuekit" else rq_cmd, check=True, capture_output=True
            )
            rates[name].append(jobs / (time.perf_counter() - started))
    for name in rates:
        print(
            f"{name:8} {worker_class}: median {statistics.median(rates[name]):6.0f} jobs/s "
            f"(rounds {[round(r) for r in rates[name]]})"
        )
    print(
        f"queuekit/rq drain: {statistics.median(rates['queuekit']) / statistics.median(rates['rq']):.2f}"
    )
    clean(client)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]), *sys.argv[3:4])
