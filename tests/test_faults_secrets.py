"""Fault suite, part 7: a URL's password never appears in a repr, a log line, an error message,
CLI output or a failed-store record, on every backend, checked by grepping what was captured.

Redis and RabbitMQ get a user with a password for this (an ACL user on Redis, a RabbitMQ user),
so the workers run on authenticated URLs; a failing job's error quotes another URL's password.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from queuekit.exceptions import QueueError
from tests import faults
from tests.apps.fault_jobs import LEAK, SECRET

pytestmark = pytest.mark.faults

USER = "queuekit-faults"
REDIS_URL = f"redis://{USER}:{SECRET}@127.0.0.1:6379/7"
AMQP_URL = f"amqp://{USER}:{SECRET}@127.0.0.1:5672//"


def redis_user() -> None:
    """An ACL user with the secret password (the default user stays as it is)."""
    import redis

    client = redis.Redis.from_url(faults.REDIS_URL)
    client.execute_command("ACL", "SETUSER", USER, "on", f">{SECRET}", "~*", "&*", "+@all")
    client.close()


def rabbitmq_user() -> None:
    """A RabbitMQ user with the secret password and every permission on the / vhost."""
    listed = subprocess.run(
        ["rabbitmqctl", "-q", "list_users"], capture_output=True, text=True, timeout=60
    )
    if listed.returncode != 0:
        pytest.fail(f"rabbitmqctl cannot list users: {listed.stderr}")
    if USER not in listed.stdout.split():
        subprocess.run(["rabbitmqctl", "add_user", USER, SECRET], check=True, capture_output=True)
    else:
        subprocess.run(
            ["rabbitmqctl", "change_password", USER, SECRET], check=True, capture_output=True
        )
    subprocess.run(
        ["rabbitmqctl", "set_permissions", "-p", "/", USER, ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )


def with_secrets(options: dict[str, Any]) -> dict[str, Any]:
    """The backend's options with every service URL authenticated by the secret password."""
    swapped = {}
    for key, value in options.items():
        if value == faults.REDIS_URL:
            value = REDIS_URL
        elif value == faults.AMQP_URL:
            value = AMQP_URL
        swapped[key] = value
    return swapped


def unreachable(options: dict[str, Any]) -> dict[str, Any]:
    """The same options pointed at a port nothing listens on, fast to fail."""
    url = str(options["url"]).replace(":6379/", ":1/").replace(":5672/", ":1/")
    extra: dict[str, Any] = {}
    if "amqp" in url or options.get("namespace"):
        extra = {"connect_timeout": 1.0}
    return {**options, "url": url, **extra}


def cli(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "queuekit", *args, "--app", faults.APP],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return done.stdout + done.stderr


def backend_params() -> list[object]:
    return [
        pytest.param(b, id=name, marks=[getattr(pytest.mark, s) for s in b.services])
        for name, b in faults.BACKENDS.items()
    ]


@pytest.mark.parametrize("backend", backend_params())
def test_no_password_in_any_output(
    backend: faults.Backend,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Repr, enqueue errors, the worker's log, CLI output and failed-store records of a backend
    on password-protected services hold no password: only ``***``."""
    if backend.module is not None:
        pytest.importorskip(backend.module)
    if "redis" in backend.services:
        redis_user()
    if "rabbitmq" in backend.services:
        rabbitmq_user()
    caplog.set_level(logging.DEBUG)
    options = with_secrets(backend.options(tmp_path, f"secrets{time.time_ns() % 10**8}"))
    seen: list[str] = []
    queue = faults.make_queue(backend, options)
    try:
        seen.append(repr(queue))
        if "url" in options and SECRET in str(options["url"]):
            assert "***" in repr(queue)
        job_id = queue.enqueue(LEAK)
        try:
            if not backend.services:
                raise QueueError("no service to be unreachable")
            broken = faults.make_queue(backend, unreachable(options))
            try:
                broken.enqueue(LEAK)
            finally:
                broken.close()
        except QueueError as exc:
            seen.append(str(exc))
        if backend.name in faults.IN_PROCESS:
            queue.start()  # type: ignore[attr-defined]
            faults.wait_until(lambda: bool(queue.failed.list()), 30, "the failed job")
        else:
            log = tmp_path / "worker.log"
            worker = faults.spawn(backend, options, log, "--logfile", str(tmp_path / "file.log"))
            try:
                faults.wait_until(lambda: bool(queue.failed.list()), 60, "the failed job")
            finally:
                faults.stop(worker)
            seen += [log.read_text(errors="replace"), (tmp_path / "file.log").read_text()]
            args = ["--backend", backend.alias, *faults.option_args(options)]
            seen += [cli("info", *args), cli("failed", "list", *args)]
            seen.append(cli("failed", "show", job_id, *args))
            assert "ConnectionError" in seen[-1] and "***" in seen[-1]
        records = [json.dumps(record.to_dict()) for record in queue.failed.list()]
        assert any("postgresql://app:***@db.invalid" in r for r in records), records
        seen += records
    finally:
        queue.close()
        backend.cleanup(options)
    captured = capsys.readouterr()
    seen += [captured.out, captured.err, caplog.text]
    leaks = [text for text in seen if SECRET in text]
    assert leaks == [], leaks[0][:3000] if leaks else ""
