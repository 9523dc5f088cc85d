"""What happens to a job whose rq worker is SIGKILLed mid-job, with queuekit and with plain rq.

    /tmp/v/bin/python backends/rq/scripts/sigkill_experiment.py [jobs]

Uses Redis database 2 (rq's keys there are deleted) and takes about 80 s: rq only treats a started job as abandoned
once its execution's heartbeat TTL lapses (job_timeout 5 s + 60 s here), and a worker looks for
abandoned jobs when it starts (then every 10 minutes). Every job has 2 retries and sleeps 3 s;
each run appends its pid to a file, so the runs are counted, not inferred.

  A. queuekit: the work horse alone is SIGKILLed; the worker goes on.
  B. queuekit: worker, scheduler and work horse are SIGKILLed; a new worker starts after 70 s.
  C. plain rq (same job function, rq.Retry(max=2), JSON): as B.
  D. queuekit: the worker's main process alone is SIGKILLed (its work horse lives on).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
from queuekit_rq import RqQueue
from rq import Queue, Retry
from rq.defaults import RQ_KEY_PREFIX
from rq.job import Job
from rq.serializers import JSONSerializer

URL = "redis://127.0.0.1:6379/2"


def clean(client: redis.Redis) -> None:
    """Delete rq's keys (and queuekit's, under rq's prefix) from database 2, nothing else."""
    keys = list(client.scan_iter(match=f"{RQ_KEY_PREFIX}:*", count=1000))
    for start in range(0, len(keys), 500):
        client.unlink(*keys[start : start + 500])


TESTS = Path(__file__).resolve().parents[3] / "tests"
sys.path.insert(0, str(TESTS))
from test_rq_jobs import HOLD_RETRIED, collector  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": str(TESTS)}


def queuekit_worker(queue: str, *extra: str) -> subprocess.Popen[bytes]:
    args = ["--backend", "rq", "--url", URL, "-Q", queue, "--app", "test_rq_jobs:collector"]
    return subprocess.Popen(
        [sys.executable, "-m", "queuekit", "worker", *args, *extra],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def rq_worker(queue: str, *extra: str) -> subprocess.Popen[bytes]:
    rq = str(Path(sys.executable).with_name("rq"))
    return subprocess.Popen(
        [rq, "worker", "--url", URL, "--serializer", "json", "--path", str(TESTS), queue, *extra],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def runs(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def wait_started(paths: list[Path], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while any(not runs(p) for p in paths):
        if time.monotonic() > deadline:
            raise SystemExit(f"jobs did not start: {paths}")
        time.sleep(0.05)


def kill_everything(worker: subprocess.Popen[bytes], horse_pids: list[int]) -> None:
    for pid in horse_pids:  # rq puts each work horse in a process group of its own
        os.kill(pid, signal.SIGKILL)
    os.killpg(worker.pid, signal.SIGKILL)  # the worker and its scheduler process
    worker.wait()


def main(jobs: int = 3) -> None:
    client = redis.Redis.from_url(URL)
    clean(client)
    tmp = Path(tempfile.mkdtemp(prefix="rq-sigkill-"))
    queue = RqQueue(url=URL)
    collector.register_jobs(queue)
    native = Queue("native", connection=client, serializer=JSONSerializer)

    a_paths = [tmp / f"a{i}" for i in range(jobs)]
    b_paths = [tmp / f"b{i}" for i in range(jobs)]
    c_paths = [tmp / f"c{i}" for i in range(jobs)]
    a_ids = [queue.enqueue(HOLD_RETRIED, [str(p), 3], queue="a", timeout=5) for p in a_paths]
    b_ids = [queue.enqueue(HOLD_RETRIED, [str(p), 3], queue="b", timeout=5) for p in b_paths]
    d_paths = [tmp / f"d{i}" for i in range(jobs)]
    d_ids = [queue.enqueue(HOLD_RETRIED, [str(p), 3], queue="d", timeout=5) for p in d_paths]
    c_ids = [
        native.enqueue("test_rq_jobs.hold", str(p), 3, job_timeout=5, retry=Retry(max=2)).id
        for p in c_paths
    ]

    # A: kill each work horse in turn; the same worker goes on to the next job.
    worker_a = queuekit_worker("a")
    for path in a_paths:
        wait_started([path])
        os.kill(int(runs(path)[0]), signal.SIGKILL)
    time.sleep(3)
    worker_a.send_signal(signal.SIGTERM)
    worker_a.wait(30)

    # D: kill only the worker's main process; its work horse (own process group) goes on.
    for path in d_paths:
        worker = queuekit_worker("d")
        wait_started([path])
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        time.sleep(4)  # the job sleeps 3 s
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)  # the orphaned scheduler process, if any

    # B and C: one worker each, killed outright with its work horse on every job.
    for paths, start in ((b_paths, queuekit_worker), (c_paths, rq_worker)):
        for path in paths:
            worker = start("b" if start is queuekit_worker else "native")
            wait_started([path])
            kill_everything(worker, [int(runs(path)[-1])])
    killed_at = time.time()
    print(f"B/C killed; waiting {70 - (time.time() - killed_at):.0f} s for the heartbeat TTL")
    time.sleep(max(0.0, 70 - (time.time() - killed_at)))
    for worker in (queuekit_worker("b", "--burst"), rq_worker("native", "--burst")):
        worker.wait(120)

    print(f"\n{jobs} jobs per scenario, each with 2 retries left when killed")
    for label, ids, paths in (
        ("A queuekit, horse SIGKILLed", a_ids, a_paths),
        ("B queuekit, worker+horse SIGKILLed", b_ids, b_paths),
        ("C plain rq, worker+horse SIGKILLed", c_ids, c_paths),
        ("D queuekit, worker main SIGKILLed", d_ids, d_paths),
    ):
        counts = [len(runs(p)) for p in paths]
        if label.startswith("C"):
            states = [
                Job.fetch(i, connection=client, serializer=JSONSerializer).get_status().value
                for i in c_ids
            ]
        else:
            states = [queue.get_result(i).status.value for i in ids]
        print(f"{label:36} runs per job {counts}  final {states}")
    records = {r.id: r for r in queue.failed.list()}
    print("queuekit failed store:", sorted({(r.reason, r.error.type) for r in records.values()}))
    clean(client)


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:2]))
