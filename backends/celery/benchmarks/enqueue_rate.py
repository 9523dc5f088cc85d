"""Enqueue rate: queuekit's CeleryQueue.enqueue vs Celery's own send_task, interleaved A B A B.

    python backends/celery/benchmarks/enqueue_rate.py redis://127.0.0.1:6379/3 [RESULT_URL] [N] [ROUNDS]

Both sides use the same Celery app and task; the broker database is flushed between rounds.
"""

from __future__ import annotations

import statistics
import sys
import time

import queuekit
from queuekit.testing.jobs import PREFIX, collector


def main() -> None:
    url = sys.argv[1]
    result_url = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] != "-" else None
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    prefix = f"celery-bench-{time.time_ns()}."
    options = {"url": url, "queue_prefix": prefix}
    if result_url:
        options["result_backend"] = result_url
    queue = queuekit.create_queue(backend="celery", **options)
    collector.register_jobs(queue)
    app = queue.celery  # type: ignore[attr-defined]
    name = PREFIX + "add"

    def purge() -> None:
        with app.connection_for_write() as conn:
            channel = conn.channel()
            channel.queue_purge(f"{prefix}default")

    def native() -> float:
        start = time.perf_counter()
        for i in range(n):
            app.send_task(name, args=[i, i], queue=f"{prefix}default")
        return n / (time.perf_counter() - start)

    def ours() -> float:
        start = time.perf_counter()
        for i in range(n):
            queue.enqueue(name, [i, i])
        return n / (time.perf_counter() - start)

    def ours_many() -> float:
        start = time.perf_counter()
        queue.enqueue_many(name, [[i, i] for i in range(n)])
        return n / (time.perf_counter() - start)

    ours()  # declare the queue, warm the pools
    purge()
    rates: dict[str, list[float]] = {
        "native send_task": [],
        "queuekit enqueue": [],
        "queuekit enqueue_many": [],
    }
    for _ in range(rounds):
        for label, run in (
            ("native send_task", native),
            ("queuekit enqueue", ours),
            ("queuekit enqueue_many", ours_many),
        ):
            rates[label].append(run())
            purge()
    base = statistics.median(rates["native send_task"])
    for label, values in rates.items():
        med = statistics.median(values)
        print(
            f"{label:24s} median {med:8.0f} jobs/s  ratio to native {med / base:5.2f}  rounds {[round(v) for v in values]}"
        )
    with app.connection_for_write() as conn:
        channel = conn.channel()
        channel.queue_delete(f"{prefix}default")
        channel.exchange_delete(f"{prefix}default")
    queue.close()


if __name__ == "__main__":
    main()
