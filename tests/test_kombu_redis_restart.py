"""kombu on Redis: a Redis that forgot kombu's binding keys (a restart without persistence)
still receives every job, because jobs go straight into their queue, not through routing."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import redis

import queuekit
from queuekit.testing.process import worker_process

REDIS_URL = "redis://127.0.0.1:6379/4"


@pytest.mark.redis
def test_jobs_arrive_after_redis_forgets_the_bindings(tmp_path: Path) -> None:
    """Deleting every _kombu.binding.* key (what a restart does) loses no job sent afterwards."""
    namespace = f"kombu-restart-{uuid.uuid4().hex[:8]}"
    queue = queuekit.create_queue(backend="kombu", url=REDIS_URL, namespace=namespace)
    from queuekit.testing.jobs import PREFIX, collector

    collector.register_jobs(queue)
    client = redis.Redis.from_url(REDIS_URL)
    out = tmp_path / "out"
    try:
        queue.enqueue(PREFIX + "touch", [str(out), "before"])
        bindings = client.keys("_kombu.binding.*")
        assert bindings, "kombu declared no bindings at all"
        client.delete(*bindings)
        queue.enqueue(PREFIX + "touch", [str(out), "after"])
        assert len(queue) == 2
        args = ["--backend", "kombu", "--url", REDIS_URL, "-o", f"namespace={namespace}"]
        with worker_process([*args, "--app", "queuekit.testing.jobs:collector", "--burst"]) as w:
            w.wait(60)
        assert sorted(out.read_text().split()) == ["after", "before"]
    finally:
        queue.close()
        keys = client.keys(f"{namespace}*")
        if keys:
            client.delete(*keys)
