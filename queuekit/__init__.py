"""queuekit: one job API over many queue engines.

Declare jobs once with ``@job``; pick the engine (memory, sqlite, huey, rq, celery, kombu or a
plugin) in configuration. No broker library is imported here.
"""

from __future__ import annotations

from .base import BaseQueue, Call, call
from .config import create_queue
from .envelope import Envelope
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
from .policies import Backoff, JobContext, Retry, current_job, exponential
from .registry import available_backends, get_backend, register_backend
from .results import ErrorInfo, JobResult, JobStatus
from .stores import FailedJob

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
