"""The Flask extension: config from app.config, per-app queues, `flask queuekit worker` in a real
process running jobs inside the app context."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import flask
import pytest

import queuekit
from queuekit import JobStatus, NoQueueConfigured, get_job_queue, has_job_queue
from queuekit.flask import QueueKit
from tests.apps import flask_ext_app

ROOT = Path(__file__).resolve().parent.parent
FACTORY = "tests.apps.flask_ext_app:create_app"


def flask_cli(*args: str, database: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``python -m flask --app <factory> *args`` in a child process, from the repository root."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUEUEKIT_")}
    env[flask_ext_app.DB_ENV] = str(database)
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", FACTORY, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_extension_builds_the_queue_from_app_config(tmp_path: Path) -> None:
    """QueueKit(app) reads QUEUEKIT_BACKEND/QUEUEKIT_PATH, registers the collected jobs and makes
    the queue the app's: get_job_queue() in its context, app.extensions['queuekit']."""
    app = flask.Flask("shop")
    app.config.update(QUEUEKIT_BACKEND="sqlite", QUEUEKIT_PATH=str(tmp_path / "jobs.db"))
    ext = QueueKit(app)
    queue = app.extensions["queuekit"]
    assert queue.backend_name == "sqlite" and queue.options["path"] == str(tmp_path / "jobs.db")
    assert "flaskext.greet" in queue.jobs
    assert queue.app is app
    with app.app_context():
        assert get_job_queue() is queue and ext.queue is queue
    assert "queuekit" in app.cli.commands
    queue.close()


def test_factory_apps_keep_their_own_queues(tmp_path: Path) -> None:
    """Two apps from one factory and one extension object enqueue into their own files."""
    first = flask_ext_app.create_app(str(tmp_path / "one.db"))
    second = flask_ext_app.create_app(str(tmp_path / "two.db"))
    ids = {}
    for name, app in (("one", first), ("two", second)):
        response = app.test_client().post(f"/greet/{name}")
        assert response.status_code == 200
        ids[name] = response.get_json()["job"]
    for name, app in (("one", first), ("two", second)):
        queue = app.extensions["queuekit"]
        assert queue.options["path"] == str(tmp_path / f"{name}.db")
        assert queue.get_result(ids[name]).status is JobStatus.QUEUED
        queue.close()


def test_app_without_backend_has_no_queue_and_says_so(tmp_path: Path) -> None:
    """No QUEUEKIT_BACKEND: no queue; enqueue and the worker command name the missing setting."""
    app = flask.Flask("bare")
    QueueKit(app)
    with app.app_context():
        assert not has_job_queue()
        with pytest.raises(NoQueueConfigured, match="set QUEUEKIT_BACKEND"):
            flask_ext_app.greet.enqueue("x")
    result = app.test_cli_runner().invoke(args=["queuekit", "worker", "--burst"])
    assert result.exit_code == 1
    assert "No job queue is configured: set QUEUEKIT_BACKEND" in result.output


def test_prefix_reads_privacyidea_keys(tmp_path: Path) -> None:
    """QueueKit(prefix='PI_JOB_QUEUE_') reads a privacyIDEA config: PI_JOB_QUEUE_CLASS and options."""
    app = flask.Flask("pi")
    app.config.update(PI_JOB_QUEUE_CLASS="sqlite", PI_JOB_QUEUE_PATH=str(tmp_path / "pi.db"))
    QueueKit(app, prefix="PI_JOB_QUEUE_")
    queue = app.extensions["queuekit"]
    assert (queue.backend_name, queue.options["path"]) == ("sqlite", str(tmp_path / "pi.db"))
    queue.close()


def test_flask_queuekit_worker_runs_jobs_in_the_app_context(tmp_path: Path) -> None:
    """`flask queuekit worker --burst` in a child process runs the jobs a request enqueued, each
    inside the app's context (the job reads current_app.config and current_app.name)."""
    database = tmp_path / "jobs.db"
    app = flask_ext_app.create_app(str(database), greeting="Hello")
    client = app.test_client()
    ids = [client.post(f"/greet/{name}").get_json()["job"] for name in ("alice", "bob")]
    done = flask_cli("queuekit", "worker", "--burst", database=database)
    assert done.returncode == 0, done.stderr
    queue = app.extensions["queuekit"]
    values = [queue.get_result(job_id).return_value for job_id in ids]
    assert values == ["Hello, alice, from shop", "Hello, bob, from shop"]
    queue.close()


def test_flask_queuekit_worker_stops_on_sigterm(tmp_path: Path) -> None:
    """A long-running `flask queuekit worker` takes a job enqueued while it idles, then exits 0
    on SIGTERM."""
    database = tmp_path / "jobs.db"
    app = flask_ext_app.create_app(str(database))
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUEUEKIT_")}
    env[flask_ext_app.DB_ENV] = str(database)
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", FACTORY, "queuekit", "worker", "-Q", "default"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        queue = app.extensions["queuekit"]
        with app.app_context():
            result = flask_ext_app.greet.enqueue("carol")
        deadline = time.monotonic() + 30
        while not queue.get_result(result.id).finished and time.monotonic() < deadline:
            time.sleep(0.05)
        assert queue.get_result(result.id).return_value == "Hello, carol, from shop"
    finally:
        worker.terminate()
        _, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err.decode()
    assert b"SIGTERM received" in err
    queue.close()


def test_flask_queuekit_info_lists_the_jobs(tmp_path: Path) -> None:
    """`flask queuekit info` shows the backend and the registered job names."""
    done = flask_cli("queuekit", "info", database=tmp_path / "jobs.db")
    assert done.returncode == 0, done.stderr
    assert "backend: <SqliteQueue 'sqlite'" in done.stdout
    assert "flaskext.greet" in done.stdout


def test_register_app_without_the_extension_still_works(tmp_path: Path) -> None:
    """privacyIDEA's create_app calls register_app(app) directly: the queue is the app's, jobs
    run in its context, and the extension is not needed."""
    app = flask.Flask("pi-direct")
    app.config.update(QUEUEKIT_BACKEND="memory", GREETING="Hi")
    queue = queuekit.register_app(app)
    assert queue is not None
    with app.app_context():
        result = flask_ext_app.greet.enqueue("dave").wait(timeout=10)
    assert result.return_value == "Hi, dave, from pi-direct"
    queue.close()
