"""Enqueue rate of queuekit's rq backend against rq's own enqueue, interleaved A B A B.

    /tmp/v/bin/python backends/rq/scripts/bench_enqueue.py [rounds] [jobs per round]

Uses Redis database 2 (rq's keys there are deleted). Each round times N single enqueues, then N calls in batches of
100; queuekit and native rq alternate round by round, and medians of the rounds are compared.
"""

from __future__ import annotations

import statistics
import sys
import time

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


ADD = PREFIX + "add"


def main(rounds: int = 6, jobs: int = 2000) -> None:
    client = redis.Redis.from_url(URL)
    clean(client)
    queuekit_queue = RqQueue(url=URL)
    collector.register_jobs(queuekit_queue)
    native = Queue("native", connection=client, serializer=JSONSerializer)

    def qk_single() -> None:
        for i in range(jobs):
            queuekit_queue.enqueue(ADD, [i, i])

    def rq_single() -> None:
        for i in range(jobs):
            native.enqueue("queuekit.testing.jobs.add", i, i)

    def qk_batch() -> None:
        for start in range(0, jobs, 100):
            queuekit_queue.enqueue_many(ADD, [call(i, i) for i in range(start, start + 100)])

    def rq_batch() -> None:
        for start in range(0, jobs, 100):
            native.enqueue_many(
                [
                    Queue.prepare_data("queuekit.testing.jobs.add", (i, i))
                    for i in range(start, start + 100)
                ]
            )

    rates: dict[str, list[float]] = {name: [] for name in ("qk", "rq", "qk100", "rq100")}
    for _ in range(rounds):
        for name, run in (
            ("qk", qk_single),
            ("rq", rq_single),
            ("qk100", qk_batch),
            ("rq100", rq_batch),
        ):
            started = time.perf_counter()
            run()
            rates[name].append(jobs / (time.perf_counter() - started))
            clean(client)
    median = {name: statistics.median(values) for name, values in rates.items()}
    for name, values in rates.items():
        print(f"{name:6} median {median[name]:8.0f} jobs/s  rounds {[round(v) for v in values]}")
    print(f"queuekit/rq enqueue        : {median['qk'] / median['rq']:.2f}")
    print(f"queuekit/rq enqueue_many x100: {median['qk100'] / median['rq100']:.2f}")
    clean(client)


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:3]))
