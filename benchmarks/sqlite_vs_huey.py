"""queuekit's sqlite backend against huey's SqliteHuey, same machine, same run, interleaved.

    python benchmarks/sqlite_vs_huey.py            # full: 5 rounds, 5,000 jobs
    python benchmarks/sqlite_vs_huey.py --quick    # smoke: 2 rounds, 300 jobs

Enqueue rate: one call at a time. End to end: N no-op jobs queued, then one worker process
(`queuekit worker`, `huey_consumer -w 1`) drains them; the clock runs from starting the worker
to the last job's marker file. Ratios are queuekit/huey, pair by pair (higher is better for rates).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def queuekit_queue(db: Path):  # type: ignore[no-untyped-def]
    from _sqlite_apps import collector

    from queuekit.backends.sqlite import SqliteQueue

    return collector.register_jobs(SqliteQueue(path=str(db)))


def huey_app(db: Path):  # type: ignore[no-untyped-def]
    os.environ["BENCH_HUEY_DB"] = str(db)
    import importlib

    import _sqlite_apps

    importlib.reload(_sqlite_apps)
    return _sqlite_apps


def enqueue_queuekit(db: Path, n: int) -> float:
    queue = queuekit_queue(db)
    start = time.perf_counter()
    for _ in range(n):
        queue.enqueue("bench.noop")
    elapsed = time.perf_counter() - start
    queue.close()
    return n / elapsed


def enqueue_huey(db: Path, n: int) -> float:
    app = huey_app(db)
    start = time.perf_counter()
    for _ in range(n):
        app.huey_noop()
    elapsed = time.perf_counter() - start
    return n / elapsed


def wait_for(path: Path, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.002)


def drain(command: list[str], marker: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    worker = subprocess.Popen(
        command, cwd=HERE, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for(marker)
        return time.perf_counter() - start
    finally:
        worker.terminate()
        worker.wait(30)


def drain_queuekit(db: Path, n: int) -> float:
    queue = queuekit_queue(db)
    marker = db.with_suffix(".done")
    queue.enqueue_many("bench.noop", [[None]] * (n - 1))
    queue.enqueue("bench.noop", [str(marker)])
    queue.close()
    command = [
        sys.executable,
        "-m",
        "queuekit",
        "worker",
        "--app",
        "_sqlite_apps:collector",
        "--url",
        f"sqlite://{db}",
        "--loglevel",
        "WARNING",
    ]
    env = {k: v for k, v in os.environ.items() if k != "BENCH_HUEY_DB"}
    env["PYTHONPATH"] = f"{HERE}:{ROOT}"
    return n / drain(command, marker, env)


def drain_huey(db: Path, n: int) -> float:
    app = huey_app(db)
    marker = db.with_suffix(".done")
    for _ in range(n - 1):
        app.huey_noop()
    app.huey_noop(str(marker))
    command = [
        sys.executable,
        "-m",
        "huey.bin.huey_consumer",
        "_sqlite_apps.huey",
        "-w",
        "1",
        "-d",
        "0.001",
        "-m",
        "0.1",
        "-q",
    ]
    env = {**os.environ, "PYTHONPATH": f"{HERE}:{ROOT}", "BENCH_HUEY_DB": str(db)}
    return n / drain(command, marker, env)


def rounds(
    pair: tuple[Callable[[Path, int], float], Callable[[Path, int], float]], n: int, count: int
) -> tuple[list[float], list[float]]:
    ours, theirs = [], []
    for _ in range(count):
        for fn, sink in zip(pair, (ours, theirs), strict=True):
            with tempfile.TemporaryDirectory() as tmp:
                sink.append(fn(Path(tmp) / "jobs.db", n))
    return ours, theirs


def summary(name: str, ours: list[float], theirs: list[float]) -> str:
    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]

    def span(values: list[float]) -> str:
        return f"{statistics.median(values):>9,.0f} ({min(values):,.0f}-{max(values):,.0f})"

    return (
        f"{name:<22} {span(ours):>28} {span(theirs):>28}   "
        f"x{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a CI smoke run")
    args = parser.parse_args()
    n, count = (300, 2) if args.quick else (5000, 5)
    sys.path.insert(0, str(HERE))
    print(f"jobs per round: {n}, rounds: {count}; rates in jobs/s: median (min-max)")
    print(f"{'operation':<22} {'queuekit sqlite':>28} {'huey SqliteHuey':>28}   queuekit/huey")
    print(summary("enqueue, one by one", *rounds((enqueue_queuekit, enqueue_huey), n, count)))
    print(summary("end to end, 1 worker", *rounds((drain_queuekit, drain_huey), n, count)))


if __name__ == "__main__":
    main()
