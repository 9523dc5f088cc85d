"""kombu's classes, typed as Any: kombu ships py.typed but most of its API is unannotated, and
strict mypy refuses calls to unannotated functions from typed code."""

from __future__ import annotations

from typing import Any

import kombu.connection
import kombu.entity
import kombu.messaging

Connection: Any = kombu.connection.Connection
Consumer: Any = kombu.messaging.Consumer
Exchange: Any = kombu.entity.Exchange
Producer: Any = kombu.messaging.Producer
Queue: Any = kombu.entity.Queue
