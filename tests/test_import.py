"""Importing queuekit imports no broker library and no web framework."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("huey", "rq", "celery", "kombu", "redis", "flask", "pika", "amqp", "sqlalchemy")


def modules_after(statement: str) -> set[str]:
    """Top-level module names in sys.modules after running ``statement`` in a fresh interpreter."""
    code = f"{statement}\nimport json, sys\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


@pytest.fixture(scope="module")
def after_import() -> set[str]:
    """What ``import queuekit`` leaves in sys.modules (computed once for the module)."""
    return modules_after("import queuekit")


def test_import_queuekit_succeeds_in_a_fresh_interpreter(after_import: set[str]) -> None:
    """The probe really imported queuekit (so the checks below are meaningful)."""
    assert "queuekit" in after_import


@pytest.mark.parametrize("library", HEAVY)
def test_import_queuekit_imports_no_broker_library(after_import: set[str], library: str) -> None:
    """``import queuekit`` leaves the broker and framework library out of sys.modules."""
    assert library not in after_import


def test_memory_backend_and_fake_import_no_broker_library() -> None:
    """The built-in memory backend and the fake queue import no broker library either."""
    loaded = modules_after("import queuekit.backends.memory, queuekit.testing.fake")
    assert "queuekit" in loaded
    assert loaded.isdisjoint(HEAVY)


def test_flask_would_be_visible_to_the_probe() -> None:
    """The probe sees flask when it is imported, so its absence above is real."""
    assert "flask" in modules_after("import queuekit, flask")


#: Standard modules a bare ``import queuekit`` does without (together a fifth of its import
#: time): they are loaded where a message, a failure or a timeout needs them.
LAZY = ("logging", "traceback", "difflib", "urllib", "signal", "asyncio")


@pytest.mark.parametrize("module", LAZY)
def test_import_queuekit_defers_heavy_standard_modules(after_import: set[str], module: str) -> None:
    """``import queuekit`` leaves the standard modules only some code paths need unloaded."""
    assert module not in after_import


def test_the_queuekit_logger_is_made_on_first_use() -> None:
    """``queuekit.events.logger`` is the "queuekit" logger, made when first asked for."""
    import logging

    from queuekit import events

    assert events.logger is logging.getLogger("queuekit")
    assert events.active() in (True, False)
