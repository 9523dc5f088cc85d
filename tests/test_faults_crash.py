"""Fault suite, parts 1 and 2: SIGKILLed and SIGTERMed workers on every backend (CI sizes; the
published sizes run with ``python -m tests.faults --full``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import faults

pytestmark = [pytest.mark.faults, pytest.mark.slow]


def backend_params(*, workers: bool) -> list[object]:
    """One parameter per backend, marked with the services it needs."""
    params = []
    for name, backend in faults.BACKENDS.items():
        if workers and name in faults.IN_PROCESS:
            continue
        marks = [getattr(pytest.mark, service) for service in backend.services]
        params.append(pytest.param(backend, id=name, marks=marks))
    return params


def require(backend: faults.Backend) -> None:
    """Skip a backend whose distribution is not installed (services are conftest's business)."""
    if backend.module is not None:
        pytest.importorskip(backend.module)


@pytest.mark.parametrize("backend", backend_params(workers=True))
def test_sigkilled_worker_keeps_the_delivery_guarantee(
    backend: faults.Backend, tmp_path: Path
) -> None:
    """200 jobs, the worker and its children SIGKILLed 5 times at random moments: at-least-once
    loses none, at-most-once loses no more than the jobs in hand and runs none twice."""
    require(backend)
    result = faults.crash(backend, jobs=200, kills=5, seed=5, parent=tmp_path)
    print(f"\n{result}")
    assert result.kills == 5
    assert result.problems() == []
    if result.delivery == "at-least-once":
        # None, but for the pop gap docs/reliability.md gives kombu on Redis: one loss per kill.
        assert result.lost <= (result.kills if result.pop_window else 0)
    else:
        assert result.lost <= result.bound and result.duplicated == 0


@pytest.mark.parametrize("backend", backend_params(workers=True))
def test_sigterm_mid_batch_loses_nothing(backend: faults.Backend, tmp_path: Path) -> None:
    """SIGTERM while a batch runs: the worker exits 0, the job in hand finishes, and a new
    worker runs the rest once."""
    require(backend)
    result = faults.graceful(backend, parent=tmp_path)
    print(f"\n{result}")
    assert result.problems() == []
    assert result.lost == 0 and result.duplicated == 0 and result.exit_code == 0
    assert result.cut_off == 0 and result.finished_in_hand >= 1
