"""Run the example end to end: uvicorn serving the app, a `queuekit worker` process, requests
over HTTP, and a graceful stop of both.

    python examples/fastapi_app/demo.py                                 # sqlite (the default)
    QUEUEKIT_BACKEND=rq QUEUEKIT_URL=redis://localhost:6379/0 python examples/fastapi_app/demo.py
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="queuekit-fastapi-example-"))
    os.environ.setdefault("QUEUEKIT_URL", f"sqlite:///{work / 'jobs.db'}")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app:app", "--port", str(port), "--log-level", "warning"],
        cwd=HERE,
        env=env,
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "queuekit", "worker", "--app", "app:configure"], cwd=HERE, env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=10) as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    client.get("/docs")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            jobs = [client.post("/reports", params={"user": u, "days": 3}).json() for u in "ab"]
            for sent in jobs:
                deadline = time.monotonic() + 60
                state = client.get(f"/reports/{sent['job']}").json()
                while state["status"] not in ("succeeded", "failed"):
                    if time.monotonic() > deadline:
                        raise SystemExit(f"job {sent['job']} did not finish within 60 s")
                    time.sleep(0.05)
                    state = client.get(f"/reports/{sent['job']}").json()
                value = state["value"]
                print(
                    f"report {sent['job'][:8]} ({sent['status']} at enqueue): {state['status']} "
                    f"-> user {value['user']}, {value['events']} events, worker pid "
                    f"{value['worker_pid']}"
                )
        print(f"server pid {server.pid}, worker pid {worker.pid}")
    finally:
        for name, process in (("worker", worker), ("server", server)):
            process.send_signal(signal.SIGTERM)
            print(f"{name} stopped: exit status {process.wait(30)}")


if __name__ == "__main__":
    main()
