"""Names and kombu entities of one queuekit-kombu installation, all derived from its prefix.

<prefix>                 direct exchange; routing key = queuekit queue name
<prefix>.<queue>         durable work queue, x-max-priority, dead-letters to <prefix>.dlx
<prefix>.dlx             direct exchange for refused messages
<prefix>.dead            the dead-letter queue
<prefix>.delay           headers exchange for delayed messages (AMQP only)
<prefix>.delay.<ms>      one queue per delay bucket: x-message-ttl=<ms>, dead-letters back to
                         <prefix> with the message's own routing key, so it lands in its
                         work queue when the TTL expires
"""

from __future__ import annotations

import math
from typing import Any

from ._kombu import Exchange, Queue

#: Delays shorter than this are held by the worker (unacknowledged) rather than by the broker.
MIN_BUCKET_MS = 32
#: The longest single broker hop; longer delays take several hops (RabbitMQ caps TTLs at 2^32-1).
MAX_BUCKET_MS = 2**31
#: The header a delayed message carries; the delay exchange routes on it.
DELAY_HEADER = "queuekit-delay"  # RabbitMQ ignores x- headers when matching bindings
DEAD_ROUTING_KEY = "dead"


def bucket_ms(remaining: float) -> int | None:
    """The delay bucket (a power of two milliseconds, at most ``remaining``) for a message due
    in ``remaining`` seconds, or None when the wait is short enough for the worker to hold."""
    ms = remaining * 1000.0
    if ms < MIN_BUCKET_MS:
        return None
    return int(min(2 ** math.floor(math.log2(ms)), MAX_BUCKET_MS))


class Topology:
    """The exchanges and queues for one prefix; on AMQP they carry RabbitMQ's arguments."""

    def __init__(self, prefix: str, max_priority: int, amqp: bool) -> None:
        self.prefix = prefix
        self.max_priority = max_priority
        self.amqp = amqp
        self.exchange = Exchange(prefix, "direct", durable=True, delivery_mode=2)
        self.dlx = Exchange(f"{prefix}.dlx", "direct", durable=True, delivery_mode=2)
        self.dead = Queue(f"{prefix}.dead", self.dlx, routing_key=DEAD_ROUTING_KEY, durable=True)
        self.delay_exchange = Exchange(f"{prefix}.delay", "headers", durable=True, delivery_mode=2)
        self._work: dict[str, Any] = {}
        self._delay: dict[int, Any] = {}

    def queue_name(self, name: str) -> str:
        return f"{self.prefix}.{name}"

    def work_queue(self, name: str) -> Any:
        """The kombu Queue that holds jobs of queuekit queue ``name``."""
        queue = self._work.get(name)
        if queue is None:
            arguments: dict[str, Any] = {}
            if self.amqp:
                arguments = {
                    "x-dead-letter-exchange": self.dlx.name,
                    "x-dead-letter-routing-key": DEAD_ROUTING_KEY,
                }
                if self.max_priority:
                    arguments["x-max-priority"] = self.max_priority
            queue = Queue(
                self.queue_name(name),
                self.exchange,
                routing_key=name,
                durable=True,
                queue_arguments=arguments or None,
            )
            self._work[name] = queue
        return queue

    def delay_queue(self, ms: int) -> Any:
        """The bucket queue whose messages wait ``ms`` milliseconds, then go to their work queue."""
        queue = self._delay.get(ms)
        if queue is None:
            queue = Queue(
                f"{self.prefix}.delay.{ms}",
                self.delay_exchange,
                durable=True,
                binding_arguments={"x-match": "all", DELAY_HEADER: str(ms)},
                queue_arguments={
                    "x-message-ttl": ms,
                    "x-dead-letter-exchange": self.exchange.name,
                },
            )
            self._delay[ms] = queue
        return queue

    def all_names(self, queues: list[str]) -> tuple[list[str], list[str]]:
        """(queue names, exchange names) this prefix may have created, for cleanup tools."""
        names = [self.queue_name(q) for q in queues] + [self.dead.name]
        names += [self._delay[ms].name for ms in self._delay]
        return names, [self.exchange.name, self.dlx.name, self.delay_exchange.name]
