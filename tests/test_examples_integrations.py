"""The Flask, Django and FastAPI examples run as their READMEs say, on the sqlite default and on
Redis (rq), each with a real worker process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = "redis://127.0.0.1:6379/5"


@pytest.fixture
def redis_db5() -> Iterator[None]:
    """Redis database 5, flushed before and after."""
    redis = pytest.importorskip("redis")
    pytest.importorskip("queuekit_rq")
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield
    client.flushdb()
    client.close()


ENGINES = ["sqlite", pytest.param("rq", marks=pytest.mark.redis)]


def run_demo(example: str, engine: str, request: pytest.FixtureRequest) -> str:
    """``python examples/<example>/demo.py`` from the repository root; its stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUEUEKIT_")}
    if engine == "rq":
        request.getfixturevalue("redis_db5")
        env.update(QUEUEKIT_BACKEND="rq", QUEUEKIT_URL=REDIS_URL)
    done = subprocess.run(
        [sys.executable, f"examples/{example}/demo.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.parametrize("engine", ENGINES)
def test_flask_example_delivers_mail_from_a_worker_process(
    engine: str, request: pytest.FixtureRequest
) -> None:
    """Two requests enqueue mail; the `flask queuekit worker` process delivers both and stops."""
    out = run_demo("flask_app", engine, request)
    assert f"<{'Rq' if engine == 'rq' else 'Sqlite'}Queue '{engine}'" in out
    assert re.search(r"job \w{8}: succeeded -> sent to alice@example.org", out)
    assert re.search(r"job \w{8}: succeeded -> sent to bob@example.org", out)
    web = int(out.split("web app pid ")[1].split()[0])
    delivered = {int(pid) for pid in re.findall(r"delivered by worker pid (\d+)", out)}
    assert len(delivered) >= 1 and web not in delivered
    assert "worker stopped: exit status 0" in out


@pytest.mark.parametrize("engine", ENGINES)
def test_django_example_confirms_committed_orders_only(
    engine: str, request: pytest.FixtureRequest
) -> None:
    """The committed order is confirmed by `manage.py queuekit_worker`; the refused one is not
    in the database, and the worker stops cleanly."""
    out = run_demo("django_project", engine, request)
    assert f"queue: <{'Rq' if engine == 'rq' else 'Sqlite'}Queue '{engine}'" in out
    assert "refused: {'error': \"'bob' is not an address\"}" in out
    assert re.search(r"confirmed by job \w{8} \(succeeded: confirmed order 1 for alice@", out)
    assert "rolled-back order exists: False" in out
    assert "worker stopped: exit status 0" in out


@pytest.mark.parametrize("engine", ENGINES)
def test_fastapi_example_runs_async_jobs_enqueued_over_http(
    engine: str, request: pytest.FixtureRequest
) -> None:
    """uvicorn serves the app; `await job.aenqueue` from the endpoints, the async job's value
    comes back over HTTP from another process."""
    out = run_demo("fastapi_app", engine, request)
    reports = re.findall(r"report \w{8} \(queued at enqueue\): succeeded -> user (\w)", out)
    assert reports == ["a", "b"]
    server = int(out.split("server pid ")[1].split(",")[0])
    workers = {int(pid) for pid in re.findall(r"events, worker pid (\d+)", out)}
    assert workers and server not in workers
    assert "worker stopped: exit status 0" in out
    # uvicorn re-raises SIGTERM after its graceful shutdown on recent versions.
    assert re.search(r"server stopped: exit status (0|-15)$", out.strip())
