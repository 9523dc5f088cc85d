"""A FastAPI app that enqueues from async endpoints and whose job is an ``async def``.

    uvicorn app:app                                  # the web app (from this directory)
    queuekit worker --app app:configure              # the worker

QUEUEKIT_BACKEND / QUEUEKIT_URL in the environment pick the engine (default: sqlite here).
``await job.aenqueue(...)`` hands the blocking send to a thread, so the event loop keeps
serving other requests while the backend is reached; the worker runs the async job on an event
loop of its own.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

import queuekit
from queuekit import job

HERE = Path(__file__).resolve().parent


@job("reports.build")
async def build_report(user: str, days: int) -> dict[str, Any]:
    """Build a usage report; the await stands for an async HTTP client or database driver."""
    await asyncio.sleep(0.05)
    return {"user": user, "days": days, "events": days * 7, "worker_pid": os.getpid()}


def configure() -> queuekit.BaseQueue:
    """The queue from QUEUEKIT_* variables (default: sqlite in this directory)."""
    config = {"QUEUEKIT_BACKEND": "sqlite", "QUEUEKIT_URL": f"sqlite:///{HERE / 'jobs.db'}"}
    config.update({k: v for k, v in os.environ.items() if k.startswith("QUEUEKIT_")})
    queue = queuekit.register_app(config)
    assert queue is not None
    return queue


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    queue = configure()
    yield
    queue.close()


app = FastAPI(lifespan=lifespan)


@app.post("/reports")
async def request_report(user: str, days: int = 7) -> dict[str, str]:
    result = await build_report.aenqueue(user, days)
    return {"job": result.id, "status": str(result.status)}


@app.get("/reports/{job_id}")
async def report(job_id: str) -> dict[str, Any]:
    queue = queuekit.get_job_queue()
    result = await asyncio.to_thread(queue.get_result, job_id)
    return {"status": str(result.status), "value": result.return_value}
