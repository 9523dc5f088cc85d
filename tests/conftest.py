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
