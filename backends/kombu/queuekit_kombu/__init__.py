"""queuekit-kombu: queuekit jobs on kombu, RabbitMQ first-class, at-least-once, without celery.

queue = queuekit.create_queue(backend="kombu", url="amqp://guest:guest@localhost:5672//",
                              result_url="redis://localhost:6379/0")
queuekit worker --backend kombu --url amqp://... --app myapp
"""

from __future__ import annotations

from .queue import DEFAULT_URL, BrokerUnavailable, KombuQueue

__all__ = ["DEFAULT_URL", "BrokerUnavailable", "KombuQueue"]
