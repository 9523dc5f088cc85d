"""Django: a real project on PostgreSQL (tests/django_project) whose requests and commands
enqueue on commit, roll back, use savepoints, a second database alias and the outbox; the
`queuekit_worker` management command runs the autodiscovered jobs in another process."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from queuekit import ConfigurationError
from queuekit.contrib.django import parse_settings

ROOT = Path(__file__).resolve().parent.parent
PROJECT = Path(__file__).resolve().parent / "django_project"
PG = "postgresql://postgres@127.0.0.1:5432"


def manage(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python manage.py *args`` in the test project, with its database and queue from ``env``."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def project(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A fresh PostgreSQL database, migrated, and a sqlite queue file for the project."""
    psycopg = pytest.importorskip("psycopg")
    pytest.importorskip("django")
    name = f"qk_django_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    env = {"QK_DJANGO_DB": name, "QK_DJANGO_QUEUE": str(tmp_path / "jobs.db")}
    try:
        migrated = manage(env, "migrate", "--verbosity", "0")
        assert migrated.returncode == 0, migrated.stderr
        yield env
    finally:
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def orders(database: str) -> dict[str, tuple[bool, int | None]]:
    """item -> (shipped, shipped_by pid) of every order row in the project's database."""
    import psycopg

    with psycopg.connect(f"{PG}/{database}") as conn:
        rows = conn.execute("SELECT item, shipped, shipped_by FROM shop_order").fetchall()
    return {item: (shipped, pid) for item, shipped, pid in rows}


@pytest.mark.postgres
def test_django_project_end_to_end(project: dict[str, str]) -> None:
    """Committed orders' jobs are sent at commit and run by `manage.py queuekit_worker` in
    another process, which sees the rows; rolled-back transactions, savepoints, the other
    alias's rollback and a failed request send nothing; the outbox row is relayed by
    `queuekit outbox relay`."""
    ran = manage(project, "shop_scenario")
    assert ran.returncode == 0, ran.stderr
    report: dict[str, Any] = json.loads(ran.stdout)
    assert (report["waiting_before_commit"], report["waiting_after_commit"]) == (0, 1)
    assert report["waiting_after_rollback"] == 1
    assert report["waiting_after_other_rollback"] == 2  # + the outer order; not inner, not other
    assert report["mail_waiting"] == 1
    assert report["fast_backend"] == "memory"
    assert {"shop.ship", "shop.notify"} <= set(report["jobs"])

    relay = subprocess.run(
        [
            *(sys.executable, "-m", "queuekit", "outbox", "relay", "--once"),
            *("--database", f"{PG}/{project['QK_DJANGO_DB']}"),
            *("--backend", "sqlite", "-o", f"path={project['QK_DJANGO_QUEUE']}"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert relay.stdout.strip() == "relayed 1 jobs", relay.stderr

    worker = manage(project, "queuekit_worker", "--burst")
    assert worker.returncode == 0, worker.stderr
    rows = orders(project["QK_DJANGO_DB"])
    assert set(rows) == {"committed", "outer", "outbox", "web"}
    assert all(shipped for shipped, _ in rows.values())
    assert {pid for _, pid in rows.values()} != {None}

    conn = sqlite3.connect(project["QK_DJANGO_QUEUE"])
    states = conn.execute("SELECT job, queue, state FROM queuekit_jobs ORDER BY rowid").fetchall()
    conn.close()
    assert sorted(states) == sorted(
        [("shop.ship", "default", "succeeded")] * 4 + [("shop.notify", "mail", "succeeded")]
    )


@pytest.mark.postgres
def test_worker_command_refuses_an_unknown_alias(project: dict[str, str]) -> None:
    """`queuekit_worker --alias` with a name not in settings.QUEUEKIT fails naming the aliases."""
    done = manage(project, "queuekit_worker", "--alias", "fsat", "--burst")
    assert done.returncode == 1
    assert "settings.QUEUEKIT has no alias 'fsat'. Did you mean 'fast'?" in done.stderr


def test_settings_are_checked_with_the_fix_named() -> None:
    """Each malformed QUEUEKIT setting raises a sentence naming the alias and the fix."""
    cases = [
        ([], "must be a dict of aliases"),
        ({"mail": {"BACKEND": "sqlite"}}, "has no 'default' alias"),
        ({"default": {"BACKEND": "sqlite", "OPTINS": {}}}, "unknown key 'OPTINS'. Did you mean"),
        ({"default": {"OPTIONS": {}}}, "['BACKEND'] must name a backend"),
        ({"default": {"BACKEND": "sqlite", "QUEUES": "mail"}}, "must be a list of queue names"),
        ({"default": {"BACKEND": "sqlite", "OPTIONS": ["path"]}}, "['OPTIONS'] must be a dict"),
    ]
    for setting, message in cases:
        with pytest.raises(ConfigurationError) as caught:
            parse_settings(setting)
        assert message in str(caught.value), (setting, str(caught.value))


def test_queues_become_the_accepted_names_and_the_default(tmp_path: Path) -> None:
    """QUEUES turns into the queue's accepted names; without 'default' the first one is default."""
    parsed = parse_settings(
        {
            "default": {
                "BACKEND": "sqlite",
                "OPTIONS": {"PATH": tmp_path / "jobs.db"},
                "QUEUES": ["mail", "reports"],
            }
        }
    )
    queue = parsed["default"].create()
    assert queue.default_queue == "mail"
    assert queue.queue_names == frozenset({"mail", "reports"})
    assert queue.options["path"] == str(tmp_path / "jobs.db")
    queue.close()


def test_importing_queuekit_or_the_django_package_imports_no_django() -> None:
    """Neither `import queuekit` nor `import queuekit.contrib.django` loads Django."""
    code = (
        "import sys, queuekit, queuekit.contrib.django\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
