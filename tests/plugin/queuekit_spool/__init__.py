"""A spool-directory backend: the example third-party plugin for queuekit.

Layout under the root directory::

    ready/<queue>/<rank>-<time>-<id>.json   waiting; sorted order is run order
    scheduled/<queue>/<eta>-<id>.json       waiting for their time
    running/<id>.json                       claimed by a worker (an atomic rename)
    results/<id>.json                       outcome, written atomically
    canceled/<id>.json                      canceled before a worker claimed them
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from queuekit import (
    BaseQueue,
    ConfigurationError,
    ErrorInfo,
    JobResult,
    JobStatus,
    ResultUnavailable,
)
from queuekit.envelope import Envelope
from queuekit.options import Option
from queuekit.runtime import Outcome
from queuekit.worker import Received

_RANK_BASE = 1 << 31


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class SpoolQueue(BaseQueue):
    """Jobs as files in a directory shared by producers and workers on one host."""

    backend_name: ClassVar[str] = "spool"

    supports_delay: ClassVar[bool] = True  # scheduled/ files move to ready/ when due
    supports_priority: ClassVar[bool] = True  # encoded in the file name's sort order
    supports_results: ClassVar[bool] = True  # results/<id>.json
    supports_retries: ClassVar[bool] = True  # queuekit's runtime re-sends with a delay
    supports_timeout: ClassVar[bool] = True  # queuekit's runtime: SIGALRM with one worker thread
    supports_named_queues: ClassVar[bool] = True  # one ready/ directory per queue
    supports_cancel: ClassVar[bool] = True  # an atomic rename to canceled/
    delivery: ClassVar[str] = "at-most-once"  # type: ignore[assignment]  # a claimed job dies with its worker

    options_schema: ClassVar[dict[str, Option]] = {
        "path": Option(str, None, "the spool directory (or give url='spool:///dir')"),
        "poll_interval": Option(float, 0.02, "seconds between looks at an empty spool"),
    }

    def __init__(self, options: dict[str, Any] | None = None, /, **kwargs: Any) -> None:
        super().__init__(options, **kwargs)
        path = self.options["path"]
        if path is None and self.url:
            parts = urlsplit(self.url)
            if parts.scheme != "spool":
                raise ConfigurationError(
                    f"The spool backend takes spool:///dir URLs, got {self.url!r}."
                )
            path = parts.path
        if not path:
            raise ConfigurationError("The spool backend needs a directory: path='/var/spool/jobs'.")
        self.root = Path(path)
        for sub in ("ready", "scheduled", "running", "results", "canceled"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    # -- producer -------------------------------------------------------------------------------

    def _send(self, envelope: Envelope) -> None:
        data = envelope.encode()
        eta = envelope.options.get("eta")
        if eta is not None and eta > time.time():
            folder = self.root / "scheduled" / envelope.queue
            name = f"{int(eta * 1e9):020d}-{envelope.id}.json"
        else:
            folder = self.root / "ready" / envelope.queue
            rank = _RANK_BASE - int(envelope.options.get("priority", 0))
            name = f"{rank:010d}-{time.time_ns():020d}-{envelope.id}.json"
        folder.mkdir(exist_ok=True)
        _write_atomic(folder / name, data)

    def put_raw(self, data: bytes, queue: str = "default") -> None:
        folder = self.root / "ready" / queue
        folder.mkdir(exist_ok=True)
        _write_atomic(folder / f"{_RANK_BASE:010d}-{time.time_ns():020d}-raw.json", data)

    def _find(self, pattern: str) -> Path | None:
        return next(iter(self.root.glob(pattern)), None)

    def _get_result(self, job_id: str) -> JobResult:
        # Look in lifecycle order, so a job moving on while we look is found further along.
        for area, status in (("scheduled", JobStatus.SCHEDULED), ("ready", JobStatus.QUEUED)):
            path = self._find(f"{area}/*/*-{job_id}.json")
            if path is not None:
                try:
                    envelope = Envelope.decode(path.read_bytes())
                except FileNotFoundError:
                    continue
                return replace(self._sent_result(envelope), status=status)
        if self._find(f"running/*-{job_id}.json") is not None:
            return JobResult(job_id, "", JobStatus.RUNNING, backend=self)
        done = self.root / "results" / f"{job_id}.json"
        if done.exists():
            data = json.loads(done.read_bytes())
            envelope = Envelope.from_dict(data["envelope"]) if data["envelope"] else None
            error = ErrorInfo.from_dict(data["error"]) if data["error"] else None
            status = JobStatus(data["status"])
            outcome = Outcome(
                status,
                envelope,
                job_id,
                data["return_value"],
                error,
                data["started_at"],
                data["finished_at"],
            )
            return outcome.to_result(self)
        if (self.root / "canceled" / f"{job_id}.json").exists():
            return JobResult(job_id, "", JobStatus.CANCELED, backend=self)
        raise ResultUnavailable(f"No job {job_id!r} in the spool {self.root}.")

    def _cancel(self, job_id: str) -> bool:
        for area in ("ready", "scheduled"):
            path = self._find(f"{area}/*/*-{job_id}.json")
            if path is not None:
                try:
                    os.rename(path, self.root / "canceled" / f"{job_id}.json")
                except FileNotFoundError:
                    return False  # a worker claimed it first
                return True
        return False

    def count(self, queue: str | None = None) -> int:
        folder = self.root / "ready" / (queue or self.default_queue)
        return sum(1 for _ in folder.glob("*.json")) if folder.exists() else 0

    # -- worker ---------------------------------------------------------------------------------

    def _release_due(self, queue: str) -> None:
        folder = self.root / "scheduled" / queue
        if not folder.exists():
            return
        now = time.time_ns()
        for path in sorted(folder.glob("*.json")):
            eta, _, job_id = path.stem.partition("-")
            if int(eta) > now:
                break
            target = (
                self.root / "ready" / queue / f"{_RANK_BASE:010d}-{int(eta):020d}-{job_id}.json"
            )
            target.parent.mkdir(exist_ok=True)
            with contextlib.suppress(FileNotFoundError):  # another worker released it
                os.rename(path, target)

    def _claim(self, queue: str) -> Received | None:
        folder = self.root / "ready" / queue
        if not folder.exists():
            return None
        for path in sorted(folder.glob("*.json")):
            target = self.root / "running" / path.name
            try:
                os.rename(path, target)
            except FileNotFoundError:
                continue  # another worker won this one
            return Received(target.read_bytes(), target)
        return None

    def _fetch(
        self, queues: Sequence[str], timeout: float, stop: threading.Event | None = None
    ) -> Received | None:
        deadline = time.monotonic() + timeout
        while stop is None or not stop.is_set():
            for queue in queues:
                self._release_due(queue)
                received = self._claim(queue)
                if received is not None:
                    return received
            if time.monotonic() >= deadline:
                return None
            time.sleep(self.options["poll_interval"])
        return None

    def _ack(self, received: Received, outcome: Outcome) -> None:
        if outcome.job_id:
            record = {
                "status": outcome.status.value,
                "envelope": outcome.envelope.to_dict() if outcome.envelope else None,
                "return_value": outcome.return_value,
                "error": outcome.error.to_dict() if outcome.error else None,
                "started_at": outcome.started_at,
                "finished_at": outcome.finished_at,
            }
            _write_atomic(
                self.root / "results" / f"{outcome.job_id}.json", json.dumps(record).encode()
            )
        Path(received.token).unlink(missing_ok=True)
