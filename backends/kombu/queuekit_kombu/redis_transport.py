"""kombu's Redis transport, with one client object per connection pool for its commands.

kombu's Redis channel builds a new ``redis.Redis`` for every command it sends on its own (a
publish, the record of an unacknowledged delivery, its acknowledgement), and redis-py 8's
constructor copies its table of about 170 reply callbacks each time: ~77 us, three times per
job end to end, more than the rest of kombu's work for the job. The client object holds no
state of its own besides the pool (connections come from the pool per command, as before), so
this channel keeps one per pool and builds a new one only when kombu replaces the pool (after
a lost connection). Everything else is kombu's.

queuekit-celery's Redis brokers use this transport too. ``_create_client`` is private to kombu:
this distribution pins kombu's minor version (see pyproject.toml), and the tests of both backends
run jobs through it.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis

# kombu's classes, typed as Any (see _kombu.py).
_KombuChannel: Any = kombu_redis.Channel
_KombuTransport: Any = kombu_redis.Transport


class Channel(_KombuChannel):  # type: ignore[misc]
    """kombu's Redis channel; ``_create_client`` reuses one client per connection pool."""

    _queuekit_client: Any = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:  # kombu caches the asynchronous (BRPOP) client itself
            return super()._create_client(asynchronous=True)
        pool = self.pool
        client = self._queuekit_client
        if client is None or client.connection_pool is not pool:
            client = self._queuekit_client = super()._create_client()
        return client


class Transport(_KombuTransport):  # type: ignore[misc]
    """kombu's Redis transport with :class:`Channel`."""

    Channel = Channel
