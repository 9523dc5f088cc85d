"""Run the example end to end: migrate, start `manage.py queuekit_worker`, place orders through
the view (one of them rolled back), wait for the confirmations, stop the worker.

    python examples/django_project/demo.py                             # sqlite queue (default)
    QUEUEKIT_BACKEND=rq QUEUEKIT_URL=redis://localhost:6379/0 python examples/django_project/demo.py
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    os.environ.setdefault("EXAMPLE_DATA_DIR", tempfile.mkdtemp(prefix="queuekit-django-example-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    sys.path.insert(0, str(HERE))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--verbosity", "0"], cwd=HERE, env=env, check=True)

    import django

    django.setup()
    from django.test import Client

    from queuekit.contrib.django import get_queue

    print(f"queue: {get_queue()!r}")
    worker = subprocess.Popen([*manage, "queuekit_worker"], cwd=HERE, env=env)
    client = Client()
    placed = [client.post(f"/orders/?email={who}").json() for who in ("alice@example.org", "bob")]
    print(f"placed: {placed[0]}; refused: {placed[1]}")
    order_id = placed[0]["order"]
    deadline = time.monotonic() + 60
    while not client.get(f"/orders/{order_id}/").json()["confirmed"]:
        if time.monotonic() > deadline:
            raise SystemExit("the order was not confirmed within 60 s")
        time.sleep(0.05)
    result = get_queue().get_result(placed[0]["job"]).wait(timeout=30)  # its state is stored last
    print(
        f"order {order_id}: confirmed by job {result.id[:8]} ({result.status}: {result.return_value})"
    )
    print(f"rolled-back order exists: {client.get(f'/orders/{order_id + 1}/').status_code != 404}")
    worker.send_signal(signal.SIGTERM)
    print(f"worker stopped: exit status {worker.wait(30)}")


if __name__ == "__main__":
    main()
