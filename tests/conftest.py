"""Shared fixtures: a clean job collector and queue registry around every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from queuekit import jobs


@pytest.fixture(autouse=True)
def _fresh_app_registry() -> Iterator[None]:
    """Every test starts with no configured queue and leaves none behind."""
    jobs.reset()
    yield
    jobs.reset()


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> jobs.JobCollector:
    """An empty JOB_COLLECTOR for the duration of one test."""
    fresh = jobs.JobCollector()
    monkeypatch.setattr(jobs, "JOB_COLLECTOR", fresh)
    return fresh


# -- live services ---------------------------------------------------------------------------

_SERVICES = {"redis": 6379, "rabbitmq": 5672, "postgres": 5432}


def _answers(port: int) -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test marked with a service needs it: skip when absent, fail when CI requires it."""
    import os

    required = os.environ.get("CI_REQUIRE_SERVICES", "").split()
    for name, port in _SERVICES.items():
        if item.get_closest_marker(name) is None or _answers(port):
            continue
        message = f"{name} is not answering on 127.0.0.1:{port}"
        if name in required:
            pytest.fail(f"{message}, and CI_REQUIRE_SERVICES requires it", pytrace=False)
        pytest.skip(message)
