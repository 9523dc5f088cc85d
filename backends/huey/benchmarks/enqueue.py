"""Enqueue rate: queuekit's huey backend vs huey's own task call, on the same storage.

Rounds alternate A B A B ... in one run (round-trip times on these machines are bimodal, so
only ratios within one run mean anything). Uses Redis db 1 (flushed) or a temporary SQLite file.

    python backends/huey/benchmarks/enqueue.py redis 2000 6
    python backends/huey/benchmarks/enqueue.py sqlite 1000 6
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time

import redis
from huey import PriorityRedisExpireHuey, SqliteHuey

import queuekit


def add(a: int, b: int) -> int:
    return a + b


def main() -> None:
    storage = sys.argv[1] if len(sys.argv) > 1 else "redis"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 6
    if storage == "redis":
        url = "redis://127.0.0.1:6379/1"
        client = redis.Redis.from_url(url)
        client.flushdb()
        native = PriorityRedisExpireHuey("native", url=url)
        queue = queuekit.create_queue(backend="huey", url=url, name="bench")
    else:
        folder = tempfile.mkdtemp()
        native = SqliteHuey("native", filename=f"{folder}/native.db")
        queue = queuekit.create_queue(backend="huey", url=f"sqlite://{folder}/qk.db")
    task = native.task(name="add")(add)
    queue.register_job("add", add)

    def run_native() -> float:
        start = time.perf_counter()
        for i in range(count):
            task(i, 1)
        return count / (time.perf_counter() - start)

    def run_queuekit() -> float:
        start = time.perf_counter()
        for i in range(count):
            queue.enqueue("add", [i, 1])
        return count / (time.perf_counter() - start)

    def run_bulk() -> float:
        start = time.perf_counter()
        queue.enqueue_many("add", [[i, 1] for i in range(count)])
        return count / (time.perf_counter() - start)

    runs: dict[str, list[float]] = {"huey task()": [], "queuekit enqueue": [], "enqueue_many": []}
    for _ in range(rounds):
        runs["huey task()"].append(run_native())
        runs["queuekit enqueue"].append(run_queuekit())
        if queue.supports_bulk:
            runs["enqueue_many"].append(run_bulk())
    base = statistics.median(runs["huey task()"])
    print(f"{storage}: {count} jobs x {rounds} interleaved rounds (jobs/s, median)")
    for name, rates in runs.items():
        if rates:
            median = statistics.median(rates)
            print(f"  {name:18} {median:9.0f}   ratio to huey {median / base:.2f}")
    if storage == "redis":
        client.flushdb()


if __name__ == "__main__":
    main()
