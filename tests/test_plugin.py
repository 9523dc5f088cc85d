"""The out-of-tree example plugin (tests/plugin): discovered by alias, conformant, worked by the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import queuekit
from queuekit.base import BaseQueue
from queuekit.registry import available_backends
from queuekit.testing.conformance import QueueConformance
from queuekit.testing.process import worker_process


def test_plugin_is_discovered_by_alias() -> None:
    """The installed queuekit-spool distribution provides the 'spool' alias through its entry point."""
    cls = queuekit.get_backend("spool")
    assert cls.__module__ == "queuekit_spool" and cls.__name__ == "SpoolQueue"
    info = available_backends()["spool"]
    assert (info.distribution, info.version, info.importable) == ("queuekit-spool", "0.1.0", True)
    assert info.capabilities["delay"] is True and info.capabilities["retries"] is True
    assert info.capabilities["unique"] is False


def test_plugin_is_built_by_url_config(tmp_path: Path) -> None:
    """create_queue(backend='spool', url='spool:///dir') builds the plugin's queue on that directory."""
    queue = queuekit.create_queue(backend="spool", url=f"spool://{tmp_path}/jobs")
    assert isinstance(queue, BaseQueue) and (tmp_path / "jobs" / "ready").is_dir()


class TestSpoolConformance(QueueConformance):
    """The public conformance suite against the plugin, with `queuekit worker` in a child process."""

    wait_timeout = 30.0

    @pytest.fixture(autouse=True)
    def _spool_dir(self, tmp_path: Path) -> None:
        self.spool = tmp_path / "spool"

    def make_queue(self) -> BaseQueue:
        return queuekit.create_queue(backend="spool", path=str(self.spool))

    @contextmanager
    def worker(self, queue: BaseQueue) -> Iterator[None]:
        args = ["--backend", "spool", "-o", f"path={self.spool}", "-Q", "default,other"]
        with worker_process([*args, "--app", "queuekit.testing.jobs:collector", "-c", "1"]):
            yield

    def inject_raw(self, queue: BaseQueue, data: bytes) -> None:
        queue.put_raw(data)  # type: ignore[attr-defined]
