"""Failed-job store and uniqueness locks on huey's own key/value storage.

Used where huey does not run on Redis (SQLite, memory); on Redis the backend uses queuekit's
RedisFailedStore and RedisLocks on huey's own connection pool instead.
"""

from __future__ import annotations

import json
import time
from typing import Any

from huey.constants import EmptyData  # type: ignore[import-untyped]

from queuekit.stores import FailedJob, FailedStore, LockStore


def _load(raw: Any) -> Any:
    if isinstance(raw, memoryview):
        raw = raw.tobytes()
    return json.loads(raw)


class StorageFailedStore(FailedStore):
    """Failed jobs as JSON records, one key each, in a huey storage that holds nothing else."""

    def __init__(self, storage: Any) -> None:
        self.storage = storage

    def add(self, record: FailedJob) -> None:
        self.storage.put_data(record.id, json.dumps(record.to_dict()).encode())

    def list(self, limit: int | None = None) -> list[FailedJob]:
        records = [FailedJob.from_dict(_load(raw)) for raw in self.storage.result_items().values()]
        records.sort(key=lambda record: record.failed_at, reverse=True)
        return records[:limit] if limit is not None else records

    def get(self, job_id: str) -> FailedJob | None:
        raw = self.storage.peek_data(job_id)
        return None if raw is EmptyData else FailedJob.from_dict(_load(raw))

    def remove(self, job_id: str) -> bool:
        return bool(self.storage.delete_data(job_id))

    def purge(self) -> int:
        count = int(self.storage.result_store_size())
        self.storage.flush_results()
        return count

    def close(self) -> None:
        self.storage.close()


class StorageLocks(LockStore):
    """Uniqueness locks as keys in huey's key/value store: ``put_if_empty`` claims atomically;
    an expired lock is taken over with an atomic pop, put back if someone renewed it."""

    prefix = "queuekit.unique."

    def __init__(self, storage: Any) -> None:
        self.storage = storage

    def claim(self, key: str, job_id: str, ttl: float) -> str | None:
        name = self.prefix + key
        mine = json.dumps({"holder": job_id, "until": time.time() + ttl}).encode()
        for _ in range(3):
            if self.storage.put_if_empty(name, mine):
                return None
            raw = self.storage.peek_data(name)
            if raw is EmptyData:
                continue  # released between the two calls
            current = _load(raw)
            if current["until"] > time.time():
                return str(current["holder"])
            popped = self.storage.pop_data(name)
            if popped is not EmptyData and _load(popped) != current:
                self.storage.put_if_empty(name, popped)  # renewed meanwhile: put it back
                return str(_load(popped)["holder"])
        return None if self.storage.put_if_empty(name, mine) else self._holder(name)

    def _holder(self, name: str) -> str | None:
        raw = self.storage.peek_data(name)
        return None if raw is EmptyData else str(_load(raw)["holder"])

    def release(self, key: str, job_id: str) -> None:
        name = self.prefix + key
        if self._holder(name) != job_id:
            return
        popped = self.storage.pop_data(name)
        if popped is not EmptyData and _load(popped)["holder"] != job_id:
            self.storage.put_if_empty(name, popped)  # someone else's, taken meanwhile
