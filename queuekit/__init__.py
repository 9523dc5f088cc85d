"""queuekit: one job API over many queue engines.

Declare jobs once with ``@job``; pick the engine (memory, sqlite, huey, rq, celery, kombu or a
plugin) in configuration. No broker library is imported here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .exceptions import (
    BackendImportError,
    BackendNotFound,
    ConfigurationError,
    DuplicateBackend,
    DuplicateJob,
    InvalidArguments,
    InvalidMessage,
    JobTimeout,
    NoQueueConfigured,
    QueueClosed,
    QueueError,
    ResultUnavailable,
    TimeLimitExceeded,
    UnknownJob,
    UnsupportedCapability,
)
from .jobs import (
    JOB_COLLECTOR,
    Job,
    JobCollector,
    get_job_queue,
    has_job_queue,
    job,
    register_app,
    wrap_job,
)

if TYPE_CHECKING:
    from .base import BaseQueue, Call, call
    from .config import create_queue
    from .envelope import Envelope
    from .policies import Backoff, JobContext, Retry, current_job, exponential
    from .registry import available_backends, get_backend, register_backend
    from .results import ErrorInfo, JobResult, JobStatus
    from .stores import FailedJob

# What an application imports at import time (``@job``, ``register_app``, the exceptions) is
# loaded above; the rest of the contract (queues, envelopes, results, the registry, and with
# them dataclasses and inspect, two fifths of the import) loads on first use: by the time a
# queue exists, its backend has imported them anyway.
_LAZY = {
    "BaseQueue": "base",
    "Call": "base",
    "call": "base",
    "create_queue": "config",
    "Envelope": "envelope",
    "Backoff": "policies",
    "JobContext": "policies",
    "Retry": "policies",
    "current_job": "policies",
    "exponential": "policies",
    "available_backends": "registry",
    "get_backend": "registry",
    "register_backend": "registry",
    "ErrorInfo": "results",
    "JobResult": "results",
    "JobStatus": "results",
    "FailedJob": "stores",
}

#: Modules ``import queuekit`` used to load eagerly: ``queuekit.events`` after a bare
#: ``import queuekit`` keeps working.
_SUBMODULES = frozenset(
    {"base", "config", "envelope", "events", "jsoncheck", "options", "policies", "redact"}
    | {"registry", "results", "runtime", "signing", "stores"}
)


def __getattr__(name: str) -> Any:
    import importlib

    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__version__ = "0.1.0"

__all__ = [
    "JOB_COLLECTOR",
    "BackendImportError",
    "BackendNotFound",
    "Backoff",
    "BaseQueue",
    "Call",
    "ConfigurationError",
    "DuplicateBackend",
    "DuplicateJob",
    "Envelope",
    "ErrorInfo",
    "FailedJob",
    "InvalidArguments",
    "InvalidMessage",
    "Job",
    "JobCollector",
    "JobContext",
    "JobResult",
    "JobStatus",
    "JobTimeout",
    "NoQueueConfigured",
    "QueueClosed",
    "QueueError",
    "ResultUnavailable",
    "Retry",
    "TimeLimitExceeded",
    "UnknownJob",
    "UnsupportedCapability",
    "available_backends",
    "call",
    "create_queue",
    "current_job",
    "exponential",
    "get_backend",
    "get_job_queue",
    "has_job_queue",
    "job",
    "register_app",
    "register_backend",
    "wrap_job",
]
