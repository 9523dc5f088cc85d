"""Every error queuekit raises; each message names the value at fault and the fix."""

from __future__ import annotations


class QueueError(Exception):
    """Base class of every queuekit exception."""


class ConfigurationError(QueueError, ValueError):
    """The configuration names something that does not exist or cannot work."""


class BackendNotFound(ConfigurationError):
    """No backend is known under the requested alias or class path."""


class BackendImportError(ConfigurationError, ImportError):
    """A backend exists but its module (or one of its dependencies) failed to import."""

    def __init__(self, message: str, *, name: str | None = None) -> None:
        super().__init__(message)
        #: The module that could not be imported, as ImportError.name reports it.
        self.name = name


class DuplicateBackend(ConfigurationError):
    """Two installed distributions declare the same backend alias."""


class NoQueueConfigured(QueueError, RuntimeError):
    """A job was enqueued but no job queue is configured for this application."""


class DuplicateJob(QueueError, ValueError):
    """Two jobs were registered under the same name."""


class UnknownJob(QueueError, LookupError):
    """A job name was used that no job is registered under."""


class InvalidArguments(QueueError, TypeError):
    """Job arguments (or options) that cannot cross the wire unchanged."""


class UnsupportedCapability(QueueError, NotImplementedError):
    """A call asked a backend for a capability it does not declare."""


class QueueClosed(QueueError, RuntimeError):
    """The queue was closed; it cannot send or run jobs any more."""


class InvalidMessage(QueueError, ValueError):
    """A worker received a message that is not a valid queuekit envelope."""


class ResultUnavailable(QueueError, LookupError):
    """No result is stored for the requested job id."""


class TimeLimitExceeded(QueueError, TimeoutError):
    """A job ran longer than its ``timeout=``."""


class JobTimeout(QueueError, TimeoutError):
    """Waiting for a job took longer than the caller allowed."""
