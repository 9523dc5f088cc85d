"""Envelope signing, key rotation, payload size limits and declared queue names."""

from __future__ import annotations

import json

import pytest

from queuekit import InvalidArguments, JobStatus
from queuekit.backends.memory import MemoryQueue
from queuekit.envelope import Envelope
from queuekit.exceptions import ConfigurationError, InvalidMessage
from queuekit.signing import Codec, Signer


def echo(*args: object) -> list[object]:
    return list(args)


def queue(**options: object) -> MemoryQueue:
    q = MemoryQueue(mode="immediate", **options)
    q.register_job("echo", echo)
    return q


def test_signed_envelope_round_trips() -> None:
    """An envelope signed with a key verifies with the same key and carries a hex 'sig'."""
    codec = Codec(Signer(["k1"]))
    raw = Envelope(job="echo", args=[1], codec=codec).encode()
    data = json.loads(raw)
    assert len(data["sig"]) == 64 and int(data["sig"], 16) >= 0
    assert Envelope.decode(raw, codec).args == [1]


def test_rotation_accepts_old_keys_and_signs_with_the_first() -> None:
    """With keys 'new,old', messages signed with 'old' verify and new ones use 'new'."""
    rotated = Codec(Signer.from_option("new,old"))
    old = Envelope(job="echo", codec=Codec(Signer(["old"]))).encode()
    assert Envelope.decode(old, rotated).job == "echo"
    fresh = Envelope(job="echo", codec=rotated).encode()
    assert Envelope.decode(fresh, Codec(Signer(["new"]))).job == "echo"
    with pytest.raises(InvalidMessage, match="matches none of the accepted keys"):
        Envelope.decode(fresh, Codec(Signer(["old"])))


def test_tampered_envelope_is_refused() -> None:
    """Changing any field after signing breaks the signature."""
    codec = Codec(Signer(["k1"]))
    data = json.loads(Envelope(job="echo", args=["pay 10"], codec=codec).encode())
    data["args"] = ["pay 1000"]
    with pytest.raises(InvalidMessage, match="altered after signing"):
        Envelope.decode(json.dumps(data), codec)


def test_unsigned_envelope_is_refused_when_a_key_is_set() -> None:
    """A worker with a secret key refuses an unsigned envelope, naming the fix."""
    raw = Envelope(job="echo").encode()
    with pytest.raises(InvalidMessage, match=r"not signed.*sign the producer with the same"):
        Envelope.decode(raw, Codec(Signer(["k1"])))


def test_empty_secret_key_is_refused() -> None:
    """secret_key=',' holds no key and is refused."""
    with pytest.raises(ConfigurationError, match="secret_key is empty"):
        queue(secret_key=" , ")


def test_worker_sets_tampered_messages_aside() -> None:
    """The runtime refuses a tampered message into the failed store and keeps the secret out of repr."""
    q = queue(secret_key="s3cret-key")
    data = json.loads(Envelope(job="echo", args=[1], codec=q.codec).encode())
    data["args"] = [2]
    outcome = q.process(json.dumps(data).encode())
    assert outcome.rejected and outcome.status is JobStatus.FAILED
    assert q.failed.get(data["id"]).reason == "rejected"
    assert "s3cret-key" not in repr(q)


def test_signed_queue_runs_its_own_jobs() -> None:
    """A queue with a secret key signs at enqueue and verifies in its worker."""
    q = queue(secret_key="k1")
    assert q.submit("echo", [1, 2]).return_value == [1, 2]


def test_oversized_payload_is_refused_at_enqueue_naming_the_fix() -> None:
    """An envelope over max_payload_bytes raises in the caller, with sizes and the fix."""
    q = queue(max_payload_bytes=200)
    with pytest.raises(
        InvalidArguments,
        match=r"encodes to [\d,]+ bytes, over max_payload_bytes=200; pass a reference",
    ):
        q.enqueue("echo", ["x" * 500])
    assert q.enqueue("echo", ["small"])


def test_default_payload_limit_is_one_mebibyte() -> None:
    """The default limit is 1 MiB; 0 turns it off."""
    assert queue().codec.max_bytes == 1024 * 1024
    with pytest.raises(InvalidArguments, match="over max_payload_bytes=1,048,576"):
        queue().enqueue("echo", ["x" * (1024 * 1024)])
    assert queue(max_payload_bytes=0).enqueue("echo", ["x" * (1024 * 1024)])


def test_oversized_message_is_refused_by_the_worker() -> None:
    """A message over the limit written straight to the broker is refused, not parsed."""
    q = queue(max_payload_bytes=100)
    outcome = q.process(b'{"v": 1, "pad": "' + b"x" * 200 + b'"}')
    assert outcome.rejected and outcome.error is not None
    assert "over max_payload_bytes=100" in outcome.error.message


def test_unknown_queue_is_refused_when_queues_are_declared() -> None:
    """With queues='mail,reports', queue='mial' is refused with a suggestion; 'mail' works."""
    q = queue(queues="mail,reports")
    with pytest.raises(
        InvalidArguments,
        match=r"Unknown queue 'mial'.*Did you mean 'mail'\?.*accepts default, mail, reports",
    ):
        q.enqueue("echo", [1], queue="mial")
    assert q.submit("echo", [1], queue="mail").queue == "mail"
