"""queuekit on Celery: Redis or RabbitMQ brokers, Celery's own worker, JSON on the wire.

Each registered job becomes one Celery task named after the job. Its body hands the message to
queuekit's runtime (``queue.process``), so only registered jobs ever run.
"""

from __future__ import annotations

from .backend import BrokerUnavailable, CeleryBackendError, CeleryQueue, JobFailed

__all__ = ["BrokerUnavailable", "CeleryBackendError", "CeleryQueue", "JobFailed"]
