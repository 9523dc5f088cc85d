"""Run the example end to end: a `flask queuekit worker` process, requests to the app, the
mails it delivered, and a graceful stop.

    python examples/flask_app/demo.py                                  # sqlite (the default)
    QUEUEKIT_BACKEND=rq QUEUEKIT_URL=redis://localhost:6379/0 python examples/flask_app/demo.py
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from app import create_app  # noqa: E402


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="queuekit-flask-example-"))
    os.environ.setdefault("QUEUEKIT_URL", f"sqlite:///{work / 'jobs.db'}")
    os.environ["MAIL_SPOOL"] = str(work / "sent-mail.jsonl")
    app = create_app()
    queue = app.extensions["queuekit"]
    print(f"web app: {queue!r}")
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app:create_app", "queuekit", "worker"],
        cwd=HERE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    client = app.test_client()
    ids = [client.post(f"/mail?to={who}@example.org").get_json()["job"] for who in ("alice", "bob")]
    for job_id in ids:
        deadline = time.monotonic() + 60
        state = client.get(f"/jobs/{job_id}").get_json()
        while state["status"] not in ("succeeded", "failed") and time.monotonic() < deadline:
            time.sleep(0.05)
            state = client.get(f"/jobs/{job_id}").get_json()
        print(f"job {job_id[:8]}: {state['status']} -> {state['value']}")
    mails = [json.loads(line) for line in Path(os.environ["MAIL_SPOOL"]).read_text().splitlines()]
    for mail in mails:
        print(f"mail to {mail['to']}: {mail['subject']!r}, delivered by worker pid {mail['pid']}")
    print(f"web app pid {os.getpid()}")
    worker.send_signal(signal.SIGTERM)
    print(f"worker stopped: exit status {worker.wait(30)}")


if __name__ == "__main__":
    main()
