"""What a caller can learn about a job after enqueueing it."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .exceptions import JobTimeout

if TYPE_CHECKING:
    from .base import BaseQueue


class JobStatus(str, enum.Enum):
    """The life of a job; every backend maps its native states onto these."""

    QUEUED = "queued"  # waiting in its queue for a worker
    SCHEDULED = "scheduled"  # waiting for its delay or eta
    RUNNING = "running"  # a worker is executing it
    SUCCEEDED = "succeeded"  # returned normally; return_value holds the result
    FAILED = "failed"  # raised, or was refused by the worker; error holds why
    CANCELED = "canceled"  # canceled before it ran
    UNKNOWN = "unknown"  # the backend keeps no state for this job

    @property
    def finished(self) -> bool:
        """True once the job will not change state any more."""
        return self in _FINISHED

    def __str__(self) -> str:
        return self.value


_FINISHED = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED})


@dataclass(frozen=True)
class ErrorInfo:
    """Why a job failed: the exception's type, message and formatted traceback."""

    type: str
    message: str
    traceback: str = ""

    def __str__(self) -> str:
        return f"{self.type}: {self.message}"

    def to_dict(self) -> dict[str, str]:
        return {"type": self.type, "message": self.message, "traceback": self.traceback}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ErrorInfo:
        return cls(str(data["type"]), str(data["message"]), str(data.get("traceback", "")))


@dataclass(frozen=True)
class JobResult:
    """A snapshot of one job's state; ``refresh()`` and ``wait()`` fetch a newer one."""

    id: str
    job_name: str
    status: JobStatus
    queue: str = "default"
    return_value: Any = None
    error: ErrorInfo | None = None
    enqueued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    attempts: int = 0
    backend: BaseQueue | None = field(default=None, repr=False, compare=False)

    @property
    def finished(self) -> bool:
        return self.status.finished

    @property
    def succeeded(self) -> bool:
        return self.status is JobStatus.SUCCEEDED

    @property
    def failed(self) -> bool:
        return self.status is JobStatus.FAILED

    def _queue(self) -> BaseQueue:
        if self.backend is None:
            raise ValueError(
                f"JobResult {self.id!r} is not bound to a queue; use queue.get_result()."
            )
        return self.backend

    def refresh(self) -> JobResult:
        """Return the job's current state, as the backend knows it now."""
        return self._queue().get_result(self.id)

    def wait(self, timeout: float = 10.0, interval: float = 0.01) -> JobResult:
        """Poll until the job has finished and return its final state.

        Raises :class:`~queuekit.exceptions.JobTimeout` if it has not finished within
        ``timeout`` seconds; the job itself is left alone.
        """
        queue = self._queue()
        deadline = time.monotonic() + timeout
        current = self
        while not current.finished:
            if time.monotonic() >= deadline:
                raise JobTimeout(
                    f"Job {self.id} ({self.job_name!r}) is still {current.status} after "
                    f"{timeout:g} s; is a worker running for queue {self.queue!r}? Pass a larger "
                    f"timeout= to wait longer."
                )
            current = queue.wait_for_change(current, min(interval, deadline - time.monotonic()))
            interval = min(interval * 1.5, 0.25)
        return current

    def with_backend(self, backend: BaseQueue) -> JobResult:
        return replace(self, backend=backend)
