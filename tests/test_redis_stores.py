"""queuekit.redis_stores: what the Redis backends share (commands in one round trip, Redis
errors as queuekit errors, job state as JSON), on real Redis (db 1, keys of the test's own)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from queuekit import ErrorInfo, JobResult, JobStatus, QueueError
from queuekit.envelope import Envelope
from queuekit.redis_stores import (
    ReachingRedis,
    outcome_to_dict,
    result_from_dict,
    result_to_dict,
    send_commands,
)
from queuekit.runtime import Outcome

REDIS_URL = "redis://127.0.0.1:6379/1"


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def key(client: redis.Redis) -> Iterator[str]:
    """A key prefix of this test's own, deleted afterwards (the database is shared)."""
    prefix = f"queuekit-test-{uuid.uuid4().hex}"
    yield prefix
    for name in client.scan_iter(match=f"{prefix}*"):
        client.delete(name)


@pytest.mark.redis
def test_send_commands_writes_everything_in_one_round_trip(
    client: redis.Redis, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several commands go out in one write and their raw replies come back in order."""
    sent: list[object] = []
    connection_class = client.connection_pool.connection_class
    original = connection_class.send_packed_command

    def counting(self: object, command: object, check_health: bool = True) -> None:
        sent.append(command)
        original(self, command, check_health)

    client.ping()  # the pool's connection is made (and its handshake sent) beforehand
    monkeypatch.setattr(connection_class, "send_packed_command", counting)
    commands = [("SET", f"{key}:a", "é", "EX", 100), ("ZADD", f"{key}:z", 1.5, b"\x00m")]
    assert send_commands(client.connection_pool, commands) == [b"OK", 1]
    assert len(sent) == 1
    assert client.get(f"{key}:a") == "é".encode() and 0 < client.ttl(f"{key}:a") <= 100
    assert client.zrange(f"{key}:z", 0, -1, withscores=True) == [(b"\x00m", 1.5)]


@pytest.mark.redis
def test_send_commands_raises_an_error_reply_after_reading_every_reply(
    client: redis.Redis, key: str
) -> None:
    """An error reply is raised once all replies are read: the connection stays usable."""
    client.set(f"{key}:s", "text")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        send_commands(client.connection_pool, [("LPUSH", f"{key}:s", "x"), ("SET", key, "1")])
    assert client.get(key) == b"1"  # the command after the failed one ran
    assert send_commands(client.connection_pool, [("GET", key)]) == [b"1"]


@pytest.mark.redis
def test_a_transaction_is_all_or_nothing(client: redis.Redis, key: str) -> None:
    """With transaction=True a command refused while queued aborts the whole batch."""
    assert send_commands(
        client.connection_pool, [("SET", key, "1"), ("INCR", key)], transaction=True
    ) == [b"OK", 2]
    with pytest.raises(redis.ResponseError):
        send_commands(client.connection_pool, [("SET", key, "9"), ("SET", key)], transaction=True)
    assert client.get(key) == b"2"


def test_send_commands_refuses_what_redis_py_refuses() -> None:
    """Arguments are encoded by redis-py's rules: a bool is refused before anything is sent."""
    pool = redis.ConnectionPool.from_url("redis://127.0.0.1:1/1")
    with pytest.raises(redis.DataError, match="bool"):
        send_commands(pool, [("SET", "k", True)])


class Unavailable(QueueError):
    pass


def test_reaching_redis_names_the_action_and_hides_the_password() -> None:
    """A connection failure becomes the given queuekit error, URL redacted, cause kept."""
    client = redis.Redis.from_url("redis://:hunter2@127.0.0.1:1/1", socket_connect_timeout=1)
    url = "redis://:hunter2@127.0.0.1:1/1"
    with pytest.raises(Unavailable) as caught, ReachingRedis(Unavailable, "enqueue", url, " (x)"):
        client.ping()
    message = str(caught.value)
    assert message.startswith("Cannot enqueue: Redis at redis://:***@127.0.0.1:1/1 did not answer")
    assert "hunter2" not in message and message.endswith(" (x).")
    assert isinstance(caught.value.__cause__, redis.ConnectionError)
    with pytest.raises(KeyError), ReachingRedis(Unavailable, "x", "y"):
        raise KeyError("other errors pass through")


def test_state_records_round_trip() -> None:
    """result_to_dict and result_from_dict keep every field; outcome_to_dict agrees."""
    envelope = Envelope(job="j", args=[1], queue="mail", attempt=2)
    error = ErrorInfo("ValueError", "bad", "Traceback ...")
    now = time.time()
    outcome = Outcome(JobStatus.FAILED, envelope, envelope.id, None, error, now - 1, now)
    direct = result_from_dict(outcome_to_dict(outcome))
    through = result_from_dict(result_to_dict(outcome.to_result()))
    assert direct == through == outcome.to_result()
    assert direct.queue == "mail" and direct.attempts == 2 and direct.error == error
    bare = result_from_dict({"id": "x", "status": "queued"}, default_queue="q")
    assert bare == JobResult(id="x", job_name="", status=JobStatus.QUEUED, queue="q")
