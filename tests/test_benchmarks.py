"""The benchmark harness stays runnable: quick mode renders the table with every backend asked for.

No timing is asserted; these runs only prove that each suite still drives its engine end to
end (enqueue, batches, a worker draining, probes, memory) and that the table comes out.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Each suite and the distributions it needs beyond the core.
NEEDS = {
    "memory": (),
    "sqlite": ("huey",),
    "huey-sqlite": ("queuekit_huey", "huey"),
    "huey-redis": ("queuekit_huey", "huey", "redis"),
    "rq": ("queuekit_rq", "rq", "redis"),
    "celery-redis": ("queuekit_celery", "celery", "redis"),
    "kombu-redis": ("queuekit_kombu", "kombu", "redis"),
    "celery-rabbitmq": ("queuekit_celery", "celery"),
    "kombu-rabbitmq": ("queuekit_kombu", "kombu"),
}


def _importable(module: str) -> bool:
    # find_spec raises ValueError for a module another test left in sys.modules without a spec.
    if sys.modules.get(module) is not None:
        return True
    try:
        return importlib.util.find_spec(module) is not None
    except ValueError:
        return True


def installed(suite: str) -> bool:
    """Whether every module the suite needs can be imported here."""
    return all(_importable(module) for module in NEEDS[suite])


def quick(*suites: str) -> list[str]:
    """Run ``python -m benchmarks --quick --only ...`` and return the table's lines."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--quiet", "--only", ",".join(suites)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:2] == ["backend", "measure"], done.stdout
    return lines


def check_rows(lines: list[str], suites: tuple[str, ...]) -> None:
    """Each suite appears: measured when installed, 'skipped: ... not installed' otherwise."""
    for suite in suites:
        rows = [line for line in lines if line.split(maxsplit=1)[0:1] == [suite]]
        assert rows, f"{suite} is missing from the table:\n" + "\n".join(lines)
        text = "\n".join(rows)
        assert "error" not in text, text
        if installed(suite):
            assert "skipped" not in text, text
            assert any("drain" in row for row in rows), text
        else:
            assert "not installed" in text, text


def test_quick_run_without_services_renders_every_local_backend() -> None:
    """Import time, memory, sqlite and huey on SQLite run in quick mode and fill the table."""
    suites = ("memory", "sqlite", "huey-sqlite")
    lines = quick("core", *suites)
    assert any(line.startswith("core") and "import queuekit" in line for line in lines)
    check_rows(lines, suites)


@pytest.mark.redis
def test_quick_run_on_redis_renders_every_redis_backend() -> None:
    """huey, rq, celery and kombu on Redis (database 6) run in quick mode and fill the table."""
    suites = ("huey-redis", "rq", "celery-redis", "kombu-redis")
    check_rows(quick(*suites), suites)


@pytest.mark.rabbitmq
def test_quick_run_on_rabbitmq_renders_every_rabbitmq_backend() -> None:
    """celery and kombu on RabbitMQ run in quick mode and fill the table, targets included."""
    suites = ("celery-rabbitmq", "kombu-rabbitmq")
    lines = quick(*suites)
    check_rows(lines, suites)
    assert any("celery worker" in line and ">= 2x" in line for line in lines), "\n".join(lines)


def test_unknown_backend_is_refused_with_the_list_of_names() -> None:
    """--only with a misspelt backend exits with a usage error naming the known ones."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "sqlit"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "sqlit" in done.stderr and "sqlite" in done.stderr


def test_missing_library_is_reported_as_skipped() -> None:
    """A suite whose library is absent renders a 'skipped' row instead of failing the run."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import _suites  # the harness's modules load by their plain names, as in its workers
        from _harness import Report, Row, render_text

        class Absent(_suites.Suite):
            name = "absent"
            modules = ("queuekit_no_such_backend",)

        reason = Absent("t", ROOT).missing()
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    assert reason == "queuekit_no_such_backend is not installed"
    report = Report()
    report.add(Row("absent", "all", "", "higher", status=f"skipped: {reason}"))
    assert "skipped: queuekit_no_such_backend is not installed" in render_text(report)
