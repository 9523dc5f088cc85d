"""The `queuekit` command end to end: real processes on the spool plugin, and main() in-process."""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import queuekit
from queuekit import cli, get_backend, jobs, registry
from queuekit.backends.memory import MemoryQueue
from queuekit.base import CAPABILITIES, BaseQueue, capability_row
from queuekit.testing import jobs as testing_jobs
from queuekit.testing.process import worker_process

ROOT = Path(__file__).resolve().parent.parent
TESTING_APP = "queuekit.testing.jobs:collector"
ADD = "queuekit.conformance.add"
PASSWORD = "Pa55-s3cret-w0rd"
SECRET_URL = f"redis://alice:{PASSWORD}@localhost:6379/0"
FIRST_PARTY = ("celery", "huey", "kombu", "rq")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No QUEUEKIT_* or PI_JOB_QUEUE_* variable from the caller leaks in; run from the repo root."""
    for key in list(os.environ):
        if key.startswith(("QUEUEKIT_", "PI_JOB_QUEUE_")):
            monkeypatch.delenv(key)
    monkeypatch.chdir(ROOT)


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m queuekit *args`` from the repository root, output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "queuekit", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``queuekit.cli.main(args)`` in this process: (status, stdout, stderr)."""
    status = cli.main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def spool_args(spool: Path) -> list[str]:
    return ["--backend", "spool", "-o", f"path={spool}"]


def ready_ids(spool: Path, queue: str = "default") -> list[str]:
    """Ids of the jobs waiting in the spool, in run order (the id ends each file name)."""
    folder = spool / "ready" / queue
    return [p.stem.rsplit("-", 1)[1] for p in sorted(folder.glob("*.json"))]


def spool_result(spool: Path, job_id: str) -> dict[str, Any]:
    """The outcome record a spool worker wrote for ``job_id``."""
    data: dict[str, Any] = json.loads((spool / "results" / f"{job_id}.json").read_text())
    return data


def spool_with_testing_jobs(spool: Path) -> BaseQueue:
    """A spool queue in this process with the jobs of queuekit.testing.jobs registered."""
    queue = queuekit.create_queue(backend="spool", path=str(spool))
    return testing_jobs.collector.register_jobs(queue)


def _yes_no(flag: object) -> str:
    return "yes" if flag else "no"


def error_line(err: str, command: str) -> str:
    """The one-line error a command printed; fails unless there is exactly that one line."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"queuekit {command}: error: "), err
    return lines[0]


# -- backends and --version ------------------------------------------------------------------


def test_backends_table_shows_installed_and_missing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`backends` lists memory and spool with versions and capabilities, and first-party backends
    that are not installed with the exact pip command."""
    scan = registry._entry_points

    def without_first_party(rescan: bool = False) -> dict[str, Any]:
        return {k: v for k, v in scan(rescan).items() if k not in FIRST_PARTY}

    monkeypatch.setattr(registry, "_entry_points", without_first_party)
    status, out, err = run_main(capsys, "backends")
    assert (status, err) == (0, "")
    table = [line.split() for line in out.splitlines() if not line.split()[0].endswith(":")]
    rows = {cells[0]: cells for cells in table}
    header = ["backend", "distribution", "version", "status", *CAPABILITIES, "delivery"]
    assert rows["backend"] == header
    flags = [_yes_no(getattr(MemoryQueue, f"supports_{c}")) for c in CAPABILITIES]
    assert rows["memory"] == [
        "memory",
        "queuekit",
        queuekit.__version__,
        "ok",
        *flags,
        MemoryQueue.delivery,
    ]
    assert rows["spool"][:4] == ["spool", "queuekit-spool", "0.1.0", "ok"]
    spool_caps = capability_row(get_backend("spool"))
    assert rows["spool"][4:] == [*(_yes_no(spool_caps[c]) for c in CAPABILITIES), "at-most-once"]
    assert len(rows) == len(table)  # one row per backend
    for name in FIRST_PARTY:
        assert rows[name] == [name, f"queuekit-{name}", "-", "missing", *["-"] * len(header[4:])]
        assert f"{name}: not installed: pip install 'queuekit[{name}]'" in out.splitlines()


def test_backends_runs_as_a_process() -> None:
    """`python -m queuekit backends` exits 0 and shows the entry-point backends of this install."""
    done = run_cli("backends")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.split()[:4] == ["memory", "queuekit", "0.1.0", "ok"] for line in lines)
    assert any(line.split()[:4] == ["spool", "queuekit-spool", "0.1.0", "ok"] for line in lines)


def test_version_matches_the_installed_distribution() -> None:
    """`python -m queuekit --version` prints the version the distribution metadata declares."""
    done = run_cli("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"queuekit {metadata.version('queuekit')}"
    assert metadata.version("queuekit") == queuekit.__version__


# -- enqueue and worker ---------------------------------------------------------------------


def test_enqueue_then_burst_worker_runs_the_jobs(tmp_path: Path) -> None:
    """`enqueue` prints the id of a job that lands in the spool; `worker --burst` runs it to success."""
    spool = tmp_path / "spool"
    common = [*spool_args(spool), "--app", TESTING_APP]
    added = run_cli("enqueue", ADD, "--args", "[2, 3]", *common)
    echoed = run_cli(
        "enqueue", "queuekit.conformance.echo", "--args", '["a"]', "--kwargs", '{"b": [1]}', *common
    )
    assert (added.returncode, added.stderr, echoed.returncode, echoed.stderr) == (0, "", 0, "")
    add_id, echo_id = added.stdout.strip(), echoed.stdout.strip()
    assert len(add_id) == 32 and int(add_id, 16) >= 0
    assert ready_ids(spool) == [add_id, echo_id]

    worker = run_cli("worker", "--burst", *common)
    assert worker.returncode == 0, worker.stderr
    assert ready_ids(spool) == []
    added_result, echo_result = spool_result(spool, add_id), spool_result(spool, echo_id)
    assert (added_result["status"], added_result["return_value"]) == ("succeeded", 5)
    assert echo_result["status"] == "succeeded"
    assert echo_result["return_value"] == {"args": ["a"], "kwargs": {"b": [1]}}


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            ["--args", "[1,"],
            [
                "--args '[1,' is not valid JSON (Expecting value",
                """pass a JSON list, like --args '[1, "two"]'.""",
            ],
        ),
        (
            ["--args", '{"a": 1}'],
            [
                """--args '{"a": 1}' is a JSON object, not a list""",
                "(keyword arguments go in --kwargs)",
            ],
        ),
        (
            ["--kwargs", "[1]"],
            ["--kwargs '[1]' is a JSON list, not an object", "like --kwargs '{"],
        ),
        (
            ["--args", "[1, 2]", "--backend", "spoll"],
            ["No such backend: 'spoll'. Did you mean 'spool'?", "Known backends: "],
        ),
    ],
    ids=["bad-json", "args-not-list", "kwargs-not-object", "unknown-backend"],
)
def test_enqueue_refuses_bad_input(tmp_path: Path, extra: list[str], expected: list[str]) -> None:
    """A bad --args/--kwargs or backend exits 2 with one error line naming the value and the fix."""
    spool = tmp_path / "spool"
    done = run_cli("enqueue", ADD, *spool_args(spool), "--app", TESTING_APP, *extra)
    assert (done.returncode, done.stdout) == (2, "")
    line = error_line(done.stderr, "enqueue")
    for fragment in expected:
        assert fragment in line
    assert ready_ids(spool) == []


def test_enqueue_unknown_job_suggests_the_close_name(tmp_path: Path) -> None:
    """An unknown job name exits 2 with a did-you-mean for the registered name."""
    spool = tmp_path / "spool"
    done = run_cli("enqueue", "queuekit.conformance.ad", *spool_args(spool), "--app", TESTING_APP)
    assert done.returncode == 2
    line = error_line(done.stderr, "enqueue")
    assert "No job named 'queuekit.conformance.ad'" in line
    assert "Did you mean 'queuekit.conformance.add'?" in line
    assert ready_ids(spool) == []


def test_enqueue_without_app_says_to_pass_app(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Enqueueing with no --app (so no jobs are known) tells the user to pass --app."""
    status, out, err = run_main(capsys, "enqueue", ADD, *spool_args(tmp_path / "spool"))
    assert (status, out) == (2, "")
    line = error_line(err, "enqueue")
    assert f"No job named {ADD!r}" in line
    assert "pass --app MODULE[:ATTR] naming the module that defines it" in line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["enqueue", ADD, "-o", "path"], "--option takes key=value, like -o url="),
        (["worker", "--backend", "spool", "-c", "0"], "must be a whole number >= 1, got '0'"),
    ],
    ids=["option-without-equals", "zero-concurrency"],
)
def test_malformed_flags_are_usage_errors(args: list[str], expected: str) -> None:
    """A malformed --option or --concurrency is an argparse usage error (status 2) naming it."""
    done = run_cli(*args)
    assert done.returncode == 2
    assert expected in done.stderr.splitlines()[-1]


# -- configuration precedence ---------------------------------------------------------------


def test_environment_alone_configures_the_queue(tmp_path: Path) -> None:
    """QUEUEKIT_BACKEND and QUEUEKIT_PATH in the environment are enough for enqueue and worker."""
    spool = tmp_path / "spool"
    env = {"QUEUEKIT_BACKEND": "spool", "QUEUEKIT_PATH": str(spool)}
    enqueued = run_cli("enqueue", ADD, "--args", "[20, 22]", "--app", TESTING_APP, env=env)
    assert enqueued.returncode == 0, enqueued.stderr
    job_id = enqueued.stdout.strip()
    assert ready_ids(spool) == [job_id]
    worker = run_cli("worker", "--burst", "--app", TESTING_APP, env=env)
    assert worker.returncode == 0, worker.stderr
    assert spool_result(spool, job_id)["return_value"] == 42


def test_flags_override_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--backend and --option win over QUEUEKIT_BACKEND and QUEUEKIT_PATH."""
    env_spool, flag_spool = tmp_path / "env", tmp_path / "flag"
    monkeypatch.setenv("QUEUEKIT_BACKEND", "no-such-backend")
    monkeypatch.setenv("QUEUEKIT_PATH", str(env_spool))
    status, out, err = run_main(
        capsys, "enqueue", ADD, *spool_args(flag_spool), "--app", TESTING_APP
    )
    assert (status, err) == (0, "")
    assert ready_ids(flag_spool) == [out.strip()]
    assert not env_spool.exists()


def test_url_flag_overrides_url_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--url wins over QUEUEKIT_URL while QUEUEKIT_BACKEND still names the backend."""
    env_spool, flag_spool = tmp_path / "env", tmp_path / "flag"
    monkeypatch.setenv("QUEUEKIT_BACKEND", "spool")
    monkeypatch.setenv("QUEUEKIT_URL", f"spool://{env_spool}")
    status, out, err = run_main(
        capsys, "enqueue", ADD, "--url", f"spool://{flag_spool}", "--app", TESTING_APP
    )
    assert (status, err) == (0, "")
    assert ready_ids(flag_spool) == [out.strip()]
    assert not env_spool.exists()


def test_prefix_reads_privacyidea_class_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--prefix PI_JOB_QUEUE_ reads PI_JOB_QUEUE_CLASS (a class path) and ignores QUEUEKIT_*."""
    spool = tmp_path / "spool"
    monkeypatch.setenv("PI_JOB_QUEUE_CLASS", "queuekit_spool.SpoolQueue")
    monkeypatch.setenv("PI_JOB_QUEUE_PATH", str(spool))
    monkeypatch.setenv("QUEUEKIT_BACKEND", "memory")
    status, out, err = run_main(
        capsys,
        "enqueue",
        ADD,
        "--args",
        "[1, 1]",
        "--prefix",
        "PI_JOB_QUEUE_",
        "--app",
        TESTING_APP,
    )
    assert (status, err) == (0, "")
    assert ready_ids(spool) == [out.strip()]


def test_options_without_backend_are_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """QUEUEKIT_PATH without any backend is an error naming the option, not silently ignored."""
    monkeypatch.setenv("QUEUEKIT_PATH", str(tmp_path))
    status, _, err = run_main(capsys, "info")
    assert status == 2
    assert "Option 'path' is set (by --option or QUEUEKIT_* variables), but no backend is" in (
        error_line(err, "info")
    )


def test_no_configuration_says_how_to_configure(capsys: pytest.CaptureFixture[str]) -> None:
    """With nothing configured, `info` exits 2 naming --backend, QUEUEKIT_BACKEND and --app."""
    status, _, err = run_main(capsys, "info")
    assert status == 2
    line = error_line(err, "info")
    assert "No backend configured: pass --backend (or --url), set QUEUEKIT_BACKEND" in line


# -- --app: Flask factory and plain module --------------------------------------------------


@pytest.fixture
def flaskapp(
    collector: jobs.JobCollector, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[ModuleType]:
    """tests.apps.flaskapp freshly imported onto an empty JOB_COLLECTOR, spooling in tmp_path."""
    monkeypatch.setenv("QK_TEST_FLASKAPP_SPOOL", str(tmp_path / "spool"))
    monkeypatch.syspath_prepend(str(ROOT))
    sys.modules.pop("tests.apps.flaskapp", None)
    yield importlib.import_module("tests.apps.flaskapp")
    sys.modules.pop("tests.apps.flaskapp", None)


@pytest.mark.parametrize(
    "how",
    [[], ["--backend", "spool", "-o", "path={spool}"]],
    ids=["config-from-app", "config-from-flags"],
)
def test_flask_factory_worker_runs_jobs_in_app_context(
    flaskapp: ModuleType, tmp_path: Path, how: list[str]
) -> None:
    """`worker --app pkg.mod:create_app` runs each job inside the app's context, where
    get_job_queue() finds the app's queue."""
    spool = tmp_path / "spool"
    app = flaskapp.create_app()
    with app.app_context():
        named = flaskapp.app_name.enqueue()
        chained = flaskapp.follow_up.enqueue()
    assert ready_ids(spool) == [named.id, chained.id]

    flags = [arg.format(spool=spool) for arg in how]
    worker = run_cli("worker", "--burst", "--app", "tests.apps.flaskapp:create_app", *flags)
    assert worker.returncode == 0, worker.stderr

    queue = jobs.get_job_queue(app)
    first = queue.get_result(named.id)
    assert (first.status, first.return_value) == (
        queuekit.JobStatus.SUCCEEDED,
        "tests.apps.flaskapp",
    )
    second = queue.get_result(chained.id)
    assert second.status is queuekit.JobStatus.SUCCEEDED, second.error
    follow = queue.get_result(second.return_value)
    assert (follow.status, follow.return_value) == (
        queuekit.JobStatus.SUCCEEDED,
        "tests.apps.flaskapp",
    )


def test_flags_and_environment_override_the_app_config(
    flaskapp: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With the backend named by the app, -o path= and QUEUEKIT_PATH still override its path."""
    app_spool, flag_spool, env_spool = tmp_path / "spool", tmp_path / "flag", tmp_path / "env"
    target = ["--app", "tests.apps.flaskapp:create_app"]
    status, out, err = run_main(capsys, "enqueue", "flaskapp.app_name", *target)
    assert (status, err) == (0, "")
    assert ready_ids(app_spool) == [out.strip()]

    status, out, err = run_main(
        capsys, "enqueue", "flaskapp.app_name", *target, "-o", f"path={flag_spool}"
    )
    assert (status, err) == (0, "")
    assert ready_ids(flag_spool) == [out.strip()]

    monkeypatch.setenv("QUEUEKIT_PATH", str(env_spool))
    status, out, err = run_main(capsys, "enqueue", "flaskapp.app_name", *target)
    assert (status, err) == (0, "")
    assert ready_ids(env_spool) == [out.strip()]
    assert len(ready_ids(app_spool)) == 1


def test_plain_module_registering_at_import(tmp_path: Path) -> None:
    """`--app tests.apps.plainapp` (no ATTR) uses the queue the module registered on import."""
    spool = tmp_path / "spool"
    env = {"QK_TEST_PLAINAPP_SPOOL": str(spool)}
    target = ["--app", "tests.apps.plainapp"]
    enqueued = run_cli("enqueue", "plainapp.shout", "--args", '["hi"]', *target, env=env)
    assert enqueued.returncode == 0, enqueued.stderr
    job_id = enqueued.stdout.strip()
    assert ready_ids(spool) == [job_id]
    worker = run_cli("worker", "--burst", *target, env=env)
    assert worker.returncode == 0, worker.stderr
    assert spool_result(spool, job_id)["return_value"] == "HI"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("tests.apps.nothere", "no module named 'tests.apps.nothere'; run from the directory"),
        ("tests.apps.flaskapp:nope", "module 'tests.apps.flaskapp' has no attribute 'nope'."),
    ],
    ids=["no-module", "no-attribute"],
)
def test_bad_app_target_is_a_clear_error(target: str, expected: str) -> None:
    """A --app naming a missing module or attribute exits 2 with one line naming it."""
    done = run_cli("info", "--backend", "memory", "--app", target)
    assert done.returncode == 2
    line = error_line(done.stderr, "info")
    assert f"--app {target!r}: {expected}" in line


# -- graceful shutdown ----------------------------------------------------------------------


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_finishes_the_job_in_hand_and_takes_no_more(
    tmp_path: Path, stop: signal.Signals
) -> None:
    """A stop signal mid-job lets that job succeed, leaves the next queued job alone, and exits 0."""
    spool, log = tmp_path / "spool", tmp_path / "worker.log"
    queue = spool_with_testing_jobs(spool)
    slow = queue.enqueue("queuekit.conformance.sleep", [2.0])
    waiting = queue.enqueue(ADD, [1, 2])
    args = [*spool_args(spool), "--app", TESTING_APP, "-c", "1", "-l", str(log)]
    with worker_process(args, stop_signal=stop) as process:
        deadline = time.monotonic() + 30
        while not any((spool / "running").glob("*.json")):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the worker never claimed the slow job"
            time.sleep(0.02)
        signalled_at = time.time()
        process.send_signal(stop)
        assert process.wait(30) == 0, log.read_text()

    result = spool_result(spool, slow)
    assert (result["status"], result["return_value"]) == ("succeeded", 2.0)
    assert signalled_at < result["finished_at"]  # the job was still in hand
    assert ready_ids(spool) == [waiting]
    assert not (spool / "results" / f"{waiting}.json").exists()
    text = log.read_text()
    assert f"{stop.name} received, finishing the jobs in hand" in text
    assert "queuekit worker stopped after 1 jobs" in text


# -- logging --------------------------------------------------------------------------------


def test_worker_logfile_receives_the_log(tmp_path: Path) -> None:
    """`worker -l FILE` writes startup, success and failure (with traceback) there, not to stderr."""
    spool, log = tmp_path / "spool", tmp_path / "worker.log"
    queue = spool_with_testing_jobs(spool)
    good = queue.enqueue(ADD, [1, 2])
    bad = queue.enqueue("queuekit.conformance.fail", ["boom-from-test"])
    worker = run_cli("worker", "--burst", *spool_args(spool), "--app", TESTING_APP, "-l", str(log))
    assert worker.returncode == 0, worker.stderr
    assert worker.stderr == ""
    text = log.read_text()
    assert "queuekit worker on <SpoolQueue 'spool'" in text
    assert f"job {good} succeeded" in text
    assert f"job {bad} (queuekit.conformance.fail) failed on attempt 1" in text
    assert "RuntimeError: boom-from-test" in text
    assert "Traceback (most recent call last)" in text


def test_worker_rejects_an_unknown_loglevel(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--loglevel nonsense` exits 2 naming the value and the levels to use."""
    status, _, err = run_main(
        capsys, "worker", "--loglevel", "nonsense", *spool_args(tmp_path / "spool")
    )
    assert status == 2
    assert error_line(err, "worker").endswith(
        "--loglevel 'nonsense' is not a level; use DEBUG, INFO, WARNING or ERROR."
    )


def test_worker_rejects_an_unwritable_logfile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A --logfile in a missing directory exits 2 naming the path, without a traceback."""
    path = tmp_path / "missing" / "worker.log"
    status, _, err = run_main(capsys, "worker", "-l", str(path), *spool_args(tmp_path / "spool"))
    assert status == 2
    assert f"--logfile {str(path)!r} cannot be opened (No such file or directory)" in (
        error_line(err, "worker")
    )


def test_worker_refuses_the_memory_backend() -> None:
    """`worker --backend memory` exits 2 saying memory runs jobs in-process with no separate worker."""
    done = run_cli("worker", "--backend", "memory")
    assert done.returncode == 2
    assert "it has no separate worker" in error_line(done.stderr, "worker")


# -- info -----------------------------------------------------------------------------------


def test_info_shows_backend_redacted_options_jobs_and_waiting(tmp_path: Path) -> None:
    """`info` prints the backend, options with the URL password masked, the jobs and the count."""
    spool = tmp_path / "spool"
    queue = spool_with_testing_jobs(spool)
    queue.enqueue(ADD, [1, 2])
    queue.enqueue(ADD, [3, 4])
    url = f"spool://admin:{PASSWORD}@spoolhost/ignored"
    done = run_cli("info", *spool_args(spool), "--url", url, "--app", TESTING_APP)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "backend: spool (queuekit_spool.SpoolQueue)"
    assert "option url: spool://admin:***@spoolhost/ignored" in lines
    assert f"option path: {spool}" in lines
    names = sorted(queue.jobs)  # the testing collector registers what spool supports
    assert f"jobs ({len(names)}): {', '.join(names)}" in lines
    assert "waiting in 'default': 2" in lines
    assert PASSWORD not in done.stdout + done.stderr


# -- secrets --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "status", "shown"),
    [
        (["enqueue", ADD, "--backend", "spool", "--url", SECRET_URL], 2, "spool:///dir URLs"),
        (["enqueue", ADD, "--url", SECRET_URL], 2, "does not say which backend to use"),
        (["info", "--backend", SECRET_URL], 2, "is a URL, not a backend"),
        (["info", "--backend", "hueyy", "--url", SECRET_URL], 2, "Did you mean 'huey'?"),
        (["worker", "--backend", "spool", "--url", SECRET_URL], 2, "spool:///dir URLs"),
        (["enqueue", ADD, "--ulr", SECRET_URL], 2, "unrecognized arguments: --ulr"),
        (["enqueue", ADD, "-o", SECRET_URL], 2, "--option takes key=value"),
        (
            [
                "info",
                "--backend",
                "spool",
                "-o",
                "path=/dev/null/qk",
                "-o",
                f"poll_interval={SECRET_URL}",
            ],
            2,
            "must be float",
        ),
        (
            ["info", "--backend", "tests.apps.exploding:ExplodingQueue", "--url", SECRET_URL],
            1,
            "unexpected ConnectionRefusedError: cannot connect to redis://alice:***@localhost",
        ),
    ],
    ids=[
        "wrong-scheme",
        "url-names-no-backend",
        "url-as-backend",
        "unknown-backend",
        "worker",
        "unrecognized-flag",
        "option-without-key",
        "bad-option-value",
        "driver-error-traceback",
    ],
)
def test_no_password_in_failing_output(args: list[str], status: int, shown: str) -> None:
    """A failing command reports its error, but never the password of the URL it was given."""
    done = run_cli(*args)
    assert done.returncode == status, done.stderr
    assert shown in done.stderr
    assert PASSWORD not in done.stdout + done.stderr
