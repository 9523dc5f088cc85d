"""Importing queuekit imports no broker library and no web framework."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("huey", "rq", "celery", "kombu", "redis", "flask", "pika", "amqp", "sqlalchemy")


def modules_after(statement: str, *, full: bool = False) -> set[str]:
    """Top-level module names (every dotted name with ``full``) in sys.modules after running
    ``statement`` in a fresh interpreter."""
    names = "sys.modules" if full else "{m.split('.')[0] for m in sys.modules}"
    # The probe prints with no import of its own (json would hide whether queuekit loads it).
    code = f"{statement}\nimport sys\nprint(' '.join(sorted({names})))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return set(done.stdout.splitlines()[-1].split())


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


#: What an application runs at import time, next to the bare import.
APP_IMPORTS = ("import queuekit", "from queuekit import job, register_app")

#: Loaded on first use of the contract (a queue, a result, the registry), not by the imports
#: above: dataclasses (with inspect, ast, dis, tokenize) was two fifths of ``import queuekit``.
DEFERRED = ("dataclasses", "inspect", "json", "datetime", "contextvars", "importlib.metadata")
DEFERRED_CORE = ("queuekit.base", "queuekit.runtime", "queuekit.envelope", "queuekit.config")


@pytest.fixture(scope="module", params=APP_IMPORTS)
def after_app_import(request: pytest.FixtureRequest) -> set[str]:
    """Every module an application's import of queuekit leaves in sys.modules."""
    return modules_after(request.param, full=True)


@pytest.mark.parametrize("module", DEFERRED + DEFERRED_CORE)
def test_collecting_jobs_loads_no_dataclasses_nor_the_queue_contract(
    after_app_import: set[str], module: str
) -> None:
    """``import queuekit`` and ``from queuekit import job, register_app`` leave it unloaded."""
    assert "queuekit.jobs" in after_app_import
    assert module not in after_app_import


def test_the_lazy_names_are_the_objects_of_their_modules() -> None:
    """Every public name resolves on first use to the object its module defines."""
    import importlib

    import queuekit

    for name, module in queuekit._LAZY.items():
        assert name in queuekit.__all__
        owner = importlib.import_module(f"queuekit.{module}")
        assert getattr(queuekit, name) is getattr(owner, name)


def test_every_public_name_is_listed_and_resolves_in_a_fresh_interpreter() -> None:
    """``dir(queuekit)`` lists all of ``__all__``, and each name and the submodules ``import
    queuekit`` used to load (``queuekit.events``) resolve after a bare import."""
    code = (
        "import queuekit\n"
        "assert set(queuekit.__all__) <= set(dir(queuekit)), set(queuekit.__all__) - set(dir(queuekit))\n"
        "for name in queuekit.__all__: getattr(queuekit, name)\n"
        "assert queuekit.events.subscribe and queuekit.base.BaseQueue is queuekit.BaseQueue\n"
        "from queuekit import *\n"
        "print(JobResult.__module__)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "queuekit.results"


def test_an_unknown_attribute_still_raises_attribute_error() -> None:
    """A name queuekit does not have raises AttributeError naming it, as before."""
    import queuekit

    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        queuekit.no_such_name  # noqa: B018
