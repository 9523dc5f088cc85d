"""queuekit-kombu against celery on the same RabbitMQ, same run, interleaved rounds.

    python benchmarks/kombu_vs_celery.py            # full: 5 rounds, 2,000 publishes, 5,000 drained
    python benchmarks/kombu_vs_celery.py --quick    # smoke: 2 rounds, 300 publishes, 1,000 drained

Publish rate, one call at a time, every variant on a durable queue with persistent messages:

* ``kombu``            raw ``Producer.publish(dict, serializer='json')`` with publisher confirms,
                       the baseline queuekit-kombu's enqueue is held to;
* ``queuekit``         ``queue.enqueue()`` (confirms on, no result store);
* ``queuekit+results`` the same with ``result_url`` (the 'queued' state written to Redis db 4);
* ``celery+confirm``   ``task.delay()`` with ``confirm_publish`` (the same guarantee);
* ``celery``           ``task.delay()`` as celery ships (no confirms: returns before the broker
                       has the message);
* ``kombu-noconfirm`` / ``queuekit-noconfirm``: both without confirms, which leaves the
                       client-side cost (queuekit's validation, envelope and routing) visible.

End to end: N no-op jobs queued, then one worker process with one job at a time
(`queuekit worker -c 1`, `celery worker -c 1`, prefetch 4 each) drains them; the clock runs from
the first message leaving the queue to the queue being empty (worker start-up excluded).
Ratios are queuekit/other, round by round (higher is better).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
RUN = uuid.uuid4().hex[:8]
NAMESPACE = f"kombu-bench-{RUN}"
os.environ["BENCH_CELERY_QUEUE"] = CELERY_QUEUE = f"kombu-bench-celery-{RUN}"
RESULT_URL = "redis://127.0.0.1:6379/4"

import _kombu_apps  # noqa: E402  (needs the environment above)
from kombu import Connection, Exchange, Producer, Queue  # noqa: E402

import queuekit  # noqa: E402

AMQP_URL = _kombu_apps.AMQP_URL
RAW_QUEUE = f"kombu-bench-raw-{RUN}"


def make_queue(results: bool, confirm: bool = True) -> Any:
    options: dict[str, Any] = {"namespace": NAMESPACE, "confirm_publish": confirm}
    if results:
        options["result_url"] = RESULT_URL
    queue = queuekit.create_queue(backend="kombu", url=AMQP_URL, **options)
    return _kombu_apps.collector.register_jobs(queue)


def publish_kombu(n: int, confirm: bool = True) -> float:
    exchange = Exchange(RAW_QUEUE, "direct", durable=True)
    queue = Queue(RAW_QUEUE, exchange, routing_key=RAW_QUEUE, durable=True)
    with Connection(AMQP_URL, transport_options={"confirm_publish": confirm}) as conn:
        producer = Producer(conn)
        producer.maybe_declare(queue)
        producer.publish({"warm": True}, exchange=exchange, routing_key=RAW_QUEUE)
        start = time.perf_counter()
        for i in range(n):
            producer.publish(
                {"job": "bench.noop", "args": [i]},
                exchange=exchange,
                routing_key=RAW_QUEUE,
                serializer="json",
                delivery_mode=2,
            )
        elapsed = time.perf_counter() - start
        queue(conn.channel()).purge()
    return n / elapsed


def publish_queuekit(n: int, results: bool = False, confirm: bool = True) -> float:
    queue = make_queue(results, confirm)
    queue.enqueue("bench.noop", [0])  # connect and declare outside the clock
    start = time.perf_counter()
    for i in range(n):
        queue.enqueue("bench.noop", [i])
    elapsed = time.perf_counter() - start
    purge(f"{NAMESPACE}.default")
    queue.close()
    return n / elapsed


def publish_celery(n: int, confirm: bool) -> float:
    app = _kombu_apps.make_celery(confirm)
    task = app.tasks["bench.noop"]
    task.delay(0)
    start = time.perf_counter()
    for i in range(n):
        task.delay(i)
    elapsed = time.perf_counter() - start
    purge(CELERY_QUEUE)
    app.close()
    return n / elapsed


def purge(name: str) -> None:
    with Connection(AMQP_URL) as conn:
        conn.channel().queue_purge(name)


def waiting(conn: Any, name: str) -> int:
    _, count, _ = conn.default_channel.queue_declare(name, passive=True)
    return int(count)


def drain(queue_name: str, n: int, command: list[str]) -> float:
    """Start ``command`` (a worker) and time its draining of ``n`` queued messages."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    with Connection(AMQP_URL) as conn:
        assert waiting(conn, queue_name) == n, "the queue must hold exactly the jobs to drain"
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=HERE
        )
        try:
            deadline = time.monotonic() + 300
            while (first := waiting(conn, queue_name)) == n:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"worker never started: {command}")
                time.sleep(0.002)
            start = time.perf_counter()
            while waiting(conn, queue_name):
                time.sleep(0.002)
            elapsed = time.perf_counter() - start
        finally:
            process.terminate()
            process.wait(60)
    return (first) / elapsed


def drain_queuekit(n: int) -> float:
    queue = make_queue(results=False)
    queue.enqueue("bench.noop", [0])
    purge(f"{NAMESPACE}.default")  # a stopped worker hands its prefetched messages back
    for start in range(0, n, 500):
        queue.enqueue_many("bench.noop", [[i] for i in range(start, min(start + 500, n))])
    queue.close()
    command = [sys.executable, "-m", "queuekit", "worker", "--backend", "kombu", "--url", AMQP_URL]
    command += ["-o", f"namespace={NAMESPACE}", "--app", "_kombu_apps:collector", "-c", "1"]
    return drain(f"{NAMESPACE}.default", n, command)


def drain_celery(n: int) -> float:
    app = _kombu_apps.make_celery(confirm=True)
    task = app.tasks["bench.noop"]
    task.delay(0)
    purge(CELERY_QUEUE)  # a stopped worker hands its prefetched messages back
    with app.producer_or_acquire() as producer:
        for i in range(n):
            task.apply_async((i,), producer=producer)
    app.close()
    command = [sys.executable, "-m", "celery", "-A", "_kombu_apps:celery_app", "worker", "-c", "1"]
    command += ["-Q", CELERY_QUEUE, "--without-gossip", "--without-mingle", "--without-heartbeat"]
    command += ["--loglevel", "WARNING"]
    return drain(CELERY_QUEUE, n, command)


def cleanup() -> None:
    import redis
    from queuekit_kombu._topology import Topology

    topology = Topology(NAMESPACE, 9, True)
    with Connection(AMQP_URL) as conn:
        channel = conn.channel()
        for name in (RAW_QUEUE, CELERY_QUEUE, f"{NAMESPACE}.default", topology.dead.name):
            channel.queue_delete(name)
        for name in (RAW_QUEUE, CELERY_QUEUE, NAMESPACE, topology.dlx.name, f"{NAMESPACE}.delay"):
            channel.exchange_delete(name)
    client = redis.Redis.from_url(RESULT_URL)
    keys = list(client.scan_iter(f"queuekit:kombu:{NAMESPACE}:*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])


def rounds(
    label: str, variants: dict[str, Callable[[], float]], count: int
) -> dict[str, list[float]]:
    rates: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(count):
        for name, run in variants.items():
            rates[name].append(run())
        shown = ", ".join(f"{name} {rates[name][-1]:,.0f}/s" for name in variants)
        print(f"{label} round {round_ + 1}: {shown}", flush=True)
    return rates


def report(rates: dict[str, list[float]], pairs: list[tuple[str, str]]) -> None:
    for name, values in rates.items():
        print(
            f"  {name:18s} median {statistics.median(values):8,.0f}/s  rounds {[round(v) for v in values]}"
        )
    for a, b in pairs:
        ratios = [x / y for x, y in zip(rates[a], rates[b], strict=True)]
        print(
            f"  {a} / {b}: median ratio {statistics.median(ratios):.3f}  rounds {[round(r, 3) for r in ratios]}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds, small N (a smoke test)")
    args = parser.parse_args()
    n_rounds, n_publish, n_drain = (2, 300, 1000) if args.quick else (5, 2000, 5000)
    print(f"queuekit-kombu vs celery on {AMQP_URL.replace('guest:guest', 'guest:***')}, run {RUN}")
    try:
        publish = rounds(
            "publish",
            {
                "kombu": lambda: publish_kombu(n_publish),
                "queuekit": lambda: publish_queuekit(n_publish),
                "queuekit+results": lambda: publish_queuekit(n_publish, results=True),
                "celery+confirm": lambda: publish_celery(n_publish, confirm=True),
                "celery": lambda: publish_celery(n_publish, confirm=False),
                "kombu-noconfirm": lambda: publish_kombu(n_publish, confirm=False),
                "queuekit-noconfirm": lambda: publish_queuekit(n_publish, confirm=False),
            },
            n_rounds,
        )
        print(f"publish rate, {n_publish} calls one at a time:")
        report(
            publish,
            [
                ("queuekit", "kombu"),
                ("queuekit+results", "kombu"),
                ("queuekit", "celery+confirm"),
                ("queuekit-noconfirm", "kombu-noconfirm"),
                ("queuekit", "celery"),
            ],
        )
        drained = rounds(
            "drain",
            {"queuekit": lambda: drain_queuekit(n_drain), "celery": lambda: drain_celery(n_drain)},
            n_rounds,
        )
        print(
            f"end-to-end drain rate, {n_drain} no-op jobs, one worker process, one job at a time:"
        )
        report(drained, [("queuekit", "celery")])
    finally:
        cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
