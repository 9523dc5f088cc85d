"""queuekit on huey: RedisHuey, SqliteHuey or MemoryHuey, JSON on the wire, huey's consumer.

create_queue("huey+redis://localhost:6379/0")
create_queue(backend="huey", url="sqlite:///var/lib/jobs.db")
PI_JOB_QUEUE_CLASS = "queuekit_huey.HueyQueue"   # privacyIDEA's pi.cfg
"""

from __future__ import annotations

from .queue import HueyConnectionError, HueyQueue, WorkerInterrupted
from .serializer import JSONSerializer

__all__ = ["HueyConnectionError", "HueyQueue", "JSONSerializer", "WorkerInterrupted"]
