"""Shared fixtures: a clean job collector and queue registry around every test; the services
tests need; and what keeps the parallel run (pytest-xdist) from mixing tests that share state."""

from __future__ import annotations

import fcntl
import fnmatch
import json
import os
import tempfile
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import IO, Any

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
    """Take the services lock (see below) once skip marks are evaluated, before any fixture;
    then a test marked with a service needs it: skip when absent, fail when CI requires it."""
    _SERVICES_LOCK.enter(item)
    required = os.environ.get("CI_REQUIRE_SERVICES", "").split()
    for name, port in _SERVICES.items():
        if item.get_closest_marker(name) is None or _answers(port):
            continue
        message = f"{name} is not answering on 127.0.0.1:{port}"
        if name in required:
            pytest.fail(f"{message}, and CI_REQUIRE_SERVICES requires it", pytrace=False)
        pytest.skip(message)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, None, None]:
    """Give the services lock back once the test's fixtures are torn down."""
    yield
    _SERVICES_LOCK.leave(item, nextitem)


# -- running in parallel ---------------------------------------------------------------------
#
# pyproject.toml runs the suite on pytest-xdist workers with --dist loadgroup. Tests that share
# state in a service run in one xdist group (one worker, one after another); everything else
# (per-test names: rq's key prefix per process, Celery and kombu namespaces, uuid-named
# PostgreSQL tables and databases, tmp_path files, OS-chosen ports) spreads over all workers.
#
# (file pattern, test name pattern, required marker or None, group): first match wins.
_GROUPS: list[tuple[str, str, str | None, str]] = [
    # Redis db 1, flushed around each test; huey's default queue name.
    ("test_huey.py", "*", "redis", "redis-db1"),
    ("test_huey_e2e.py", "*", "redis", "redis-db1"),
    # Redis db 5, flushed around each test.
    ("test_asyncio.py", "*", "redis", "redis-db5"),
    ("test_examples_integrations.py", "*", "redis", "redis-db5"),
    # kombu on Redis db 4: one test deletes every _kombu.binding.* key of the database.
    ("test_kombu_redis_restart.py", "*", None, "redis-db4-kombu-transport"),
    ("test_kombu.py", "test_redis_transport_*", None, "redis-db4-kombu-transport"),
    # Redis db 7 with a 5 s visibility timeout that any kombu-on-Redis worker restores for all
    # queues of the database; a shared RabbitMQ user; workers killed on a timetable.
    ("test_faults_*.py", "*", None, "faults"),
    # Redis db 9 and RabbitMQ namespace "tutorial" of the tutorial and migration guides.
    ("test_docs.py", "*", None, "docs"),
    # Redis db 6; several whole benchmark runs at once would only compete for the CPU.
    ("test_benchmarks.py", "*", None, "benchmarks"),
]


def _service_group(item: pytest.Item) -> str | None:
    """The group of _GROUPS ``item`` belongs to, if any."""
    file = item.path.name
    name = getattr(item, "originalname", item.name)
    for file_pattern, name_pattern, marker, group in _GROUPS:
        if not (fnmatch.fnmatch(file, file_pattern) and fnmatch.fnmatch(name, name_pattern)):
            continue
        if marker is None or item.get_closest_marker(marker) is not None:
            return group
    return None


def _group(item: pytest.Item) -> str | None:
    """The xdist group of ``item``: from _GROUPS, or its module or class when it shares a
    module- or class-scoped fixture (set up once per worker that runs a test using it)."""
    group = _service_group(item)
    if group is not None:
        return group
    scopes = {_scope(item, name) for name in getattr(item, "fixturenames", ())}
    if "class" in scopes and item.cls is not None:
        return f"{item.path.name}::{item.cls.__name__}"
    if scopes & {"class", "module"}:
        return item.path.name
    return None


def _scope(item: pytest.Item, name: str) -> str:
    info: Any = getattr(item, "_fixtureinfo", None)
    definitions = info.name2fixturedefs.get(name) if info is not None else None
    return str(definitions[-1].scope) if definitions else "function"


def pytest_configure(config: pytest.Config) -> None:
    """Declare pytest-xdist's marker, so that --strict-markers holds without the plugin."""
    config.addinivalue_line("markers", "xdist_group(name): run in one pytest-xdist worker")


@pytest.hookimpl(trylast=True)  # after deselection: the final nodeids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test that shares state with others with its xdist group; an xdist worker also
    writes the groups where the controller's scheduler reads them."""
    groups = {}
    for item in items:
        group = _group(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
            groups[item.nodeid] = group
    path = getattr(config, "workerinput", {}).get("queuekit_groups")
    if path:
        written = Path(f"{path}.{os.getpid()}")
        written.write_text(json.dumps(groups), encoding="utf-8")
        written.replace(path)


# pytest-xdist's own loadgroup renames each grouped test (nodeid + "@group"), which pytest 9.2's
# structured nodeids ignore; so the groups reach the scheduler in a file instead.
_GROUPS_FILE = Path(tempfile.gettempdir()) / f"queuekit-xdist-groups-{os.getpid()}.json"


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Tell each xdist worker where to write the groups it collected."""
    node.workerinput["queuekit_groups"] = str(_GROUPS_FILE)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """--dist loadgroup: one work unit per group of _group(), every other test on its own."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class GroupScheduling(LoadGroupScheduling):
        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:  # the workers wrote it before reporting their collection
                self.groups = json.loads(_GROUPS_FILE.read_text(encoding="utf-8"))
            group = self.groups.get(nodeid)
            return f"group:{group}" if group else str(super()._split_scope(nodeid))

    return GroupScheduling(config, log)


def pytest_unconfigure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):
        _GROUPS_FILE.unlink(missing_ok=True)


# -- tests that stop a service ---------------------------------------------------------------


class _ServicesLock:
    """Locks between processes (xdist workers, and other test runs on this machine).

    A readers-writer lock on the services: every test holds it shared, a test marked
    ``stops_services`` (it stops Redis or RabbitMQ) holds it alone. A writer first takes the
    gate, which readers pass on their way in, so a waiting writer is never starved by a stream
    of readers. Then a lock per group of _GROUPS, so that another test run on this machine never
    works in the same Redis database or names at the same time (taken second: whoever holds a
    group lock holds the services lock too, so no two tests wait for each other).
    """

    DIRECTORY = Path(tempfile.gettempdir())
    GATE = DIRECTORY / "queuekit-tests-gate.lock"
    LOCK = DIRECTORY / "queuekit-tests-services.lock"
    #: Seconds to wait for a lock before the test fails instead of hanging.
    TIMEOUT = 900.0

    def __init__(self) -> None:
        self.handles: list[IO[str]] = []
        self.group: IO[str] | None = None

    def enter(self, item: pytest.Item) -> None:
        if not self.handles:  # else kept from the previous test, which shares a fixture
            alone = item.get_closest_marker("stops_services") is not None
            gate = self._take(self.GATE, fcntl.LOCK_EX)
            lock = self._take(self.LOCK, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
            if alone:
                self.handles = [lock, gate]
            else:
                gate.close()
                self.handles = [lock]
        group = _service_group(item)
        if group is not None:
            self.group = self._take(self.DIRECTORY / f"queuekit-tests-{group}.lock", fcntl.LOCK_EX)

    def leave(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        if self.group is not None:
            self.group.close()  # closing the file releases its lock
            self.group = None
        if nextitem is not None and len(self.handles) == 1 and _shares_state(item, nextitem):
            return
        for handle in self.handles:
            handle.close()
        self.handles = []

    def _take(self, path: Path, mode: int) -> IO[str]:
        handle = path.open("a")
        deadline = time.monotonic() + self.TIMEOUT
        while True:
            try:
                fcntl.flock(handle, mode | fcntl.LOCK_NB)
                return handle
            except BlockingIOError:
                if time.monotonic() > deadline:
                    handle.close()
                    pytest.fail(f"waited {self.TIMEOUT:.0f} s for {path}", pytrace=False)
                time.sleep(0.05)


def _shares_state(item: pytest.Item, nextitem: pytest.Item) -> bool:
    """True when a class- or module-scoped fixture of ``item`` stays up for ``nextitem``."""
    if nextitem.get_closest_marker("stops_services") is not None:
        return False
    shared = set(getattr(item, "fixturenames", ())) & set(getattr(nextitem, "fixturenames", ()))
    for name in shared:
        scope = _scope(item, name)
        if (scope == "class" and item.cls is not None and item.cls is nextitem.cls) or (
            scope == "module" and item.path == nextitem.path
        ):
            return True
    return False


_SERVICES_LOCK = _ServicesLock()
