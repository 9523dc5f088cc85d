"""The versioned JSON envelope every backend carries."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from queuekit.envelope import SUPPORTED_VERSIONS, VERSION, Envelope, new_id, peek_id
from queuekit.exceptions import InvalidMessage, QueueError


def valid(**changes: Any) -> dict[str, Any]:
    """A valid envelope dict with ``changes`` applied (a value of ... drops the key)."""
    data: dict[str, Any] = {
        "v": VERSION,
        "id": "a" * 32,
        "job": "mail.send",
        "args": [1, "two"],
        "kwargs": {"to": "x@example.org"},
        "queue": "default",
        "enqueued_at": 1700000000.5,
        "attempt": 1,
        "options": {},
    }
    for key, value in changes.items():
        if value is ...:
            data.pop(key)
        else:
            data[key] = value
    return data


def test_new_id_is_32_lowercase_hex_digits_and_unique() -> None:
    """new_id() returns distinct 32-digit lowercase hex strings."""
    ids = {new_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_defaults_of_a_fresh_envelope() -> None:
    """A fresh envelope has a new id, the default queue, attempt 1, the current version and time."""
    before = time.time()
    envelope = Envelope(job="mail.send")
    assert re.fullmatch(r"[0-9a-f]{32}", envelope.id)
    assert (envelope.args, envelope.kwargs, envelope.options) == ([], {}, {})
    assert (envelope.queue, envelope.attempt, envelope.version) == ("default", 1, VERSION)
    assert before <= envelope.enqueued_at <= time.time()
    assert Envelope(job="x").id != envelope.id


def test_encode_is_compact_utf8_json_with_every_field() -> None:
    """encode() writes compact JSON bytes holding every field under its wire key."""
    envelope = Envelope(job="j", args=[1], kwargs={"a": "ü"}, id="abc", enqueued_at=5.0)
    raw = envelope.encode()
    assert isinstance(raw, bytes)
    assert b" " not in raw
    assert json.loads(raw) == {
        "v": VERSION,
        "id": "abc",
        "job": "j",
        "args": [1],
        "kwargs": {"a": "ü"},
        "queue": "default",
        "enqueued_at": 5.0,
        "attempt": 1,
        "options": {},
    }


def test_round_trip_through_bytes_and_str_preserves_everything() -> None:
    """decode(encode(e)) equals e, whether the wire gives bytes or str."""
    envelope = Envelope(
        job="j",
        args=[1, [2.5, None], {"k": True}],
        kwargs={"name": "ü"},
        queue="mail",
        attempt=3,
        options={"eta": 123.0, "priority": 5},
    )
    assert Envelope.decode(envelope.encode()) == envelope
    assert Envelope.decode(envelope.encode().decode()) == envelope


def test_encode_refuses_nan_rather_than_writing_non_json() -> None:
    """An envelope holding NaN cannot be encoded (the wire format is strict JSON)."""
    with pytest.raises(ValueError, match="not JSON compliant"):
        Envelope(job="j", args=[float("nan")]).encode()


def test_optional_fields_take_defaults_when_absent() -> None:
    """A message without queue, enqueued_at, attempt or options decodes with the defaults."""
    data = valid(queue=..., enqueued_at=..., attempt=..., options=...)
    envelope = Envelope.from_dict(data)
    assert (envelope.queue, envelope.enqueued_at, envelope.attempt, envelope.options) == (
        "default",
        0.0,
        1,
        {},
    )


def test_integer_enqueued_at_becomes_a_float() -> None:
    """An integer enqueued_at is accepted and stored as a float."""
    envelope = Envelope.from_dict(valid(enqueued_at=17))
    assert envelope.enqueued_at == 17.0 and type(envelope.enqueued_at) is float


def test_supported_versions_contains_the_written_version() -> None:
    """The worker reads the version this queuekit writes."""
    assert VERSION in SUPPORTED_VERSIONS


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"{not json", "the message is not valid JSON: "),
        (b"\xff\xfe\x00garbage", "the message is not valid JSON: "),
        ("", "the message is not valid JSON: "),
        (b"[1, 2]", "a queuekit message is a JSON object, got list"),
        (b'"text"', "a queuekit message is a JSON object, got str"),
        (b"null", "a queuekit message is a JSON object, got NoneType"),
    ],
)
def test_decode_refuses_what_is_not_a_json_object(raw: bytes | str, words: str) -> None:
    """Garbage and non-object JSON are refused with InvalidMessage saying what arrived."""
    with pytest.raises(InvalidMessage, match=re.escape(words)):
        Envelope.decode(raw)


@pytest.mark.parametrize(
    ("version", "words"),
    [
        (..., "the message has no integer envelope version 'v' (got None)"),
        ("1", "the message has no integer envelope version 'v' (got '1')"),
        (True, "the message has no integer envelope version 'v' (got True)"),
        (1.0, "the message has no integer envelope version 'v' (got 1.0)"),
    ],
)
def test_missing_or_non_integer_version_is_refused(version: Any, words: str) -> None:
    """The version must be a JSON integer; anything else is named."""
    with pytest.raises(InvalidMessage, match=re.escape(words)):
        Envelope.from_dict(valid(v=version))


@pytest.mark.parametrize("version", [0, 2, 99])
def test_unknown_version_is_refused_with_upgrade_advice(version: int) -> None:
    """An envelope version this worker cannot read says to upgrade queuekit on the worker."""
    with pytest.raises(
        InvalidMessage,
        match=re.escape(
            f"envelope version {version} is not supported by this worker (it reads [1]); "
            f"upgrade queuekit on the worker"
        ),
    ):
        Envelope.from_dict(valid(v=version))


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("id", ..., "field 'id' must be a JSON str, got None"),
        ("id", 5, "field 'id' must be a JSON str, got 5"),
        ("job", ["x"], "field 'job' must be a JSON str, got ['x']"),
        ("args", {"a": 1}, "field 'args' must be a JSON list, got {'a': 1}"),
        ("args", "1,2", "field 'args' must be a JSON list, got '1,2'"),
        ("kwargs", [], "field 'kwargs' must be a JSON dict, got []"),
        ("kwargs", ..., "field 'kwargs' must be a JSON dict, got None"),
        ("attempt", 0, "field 'attempt' must be a positive integer, got 0"),
        ("attempt", "2", "field 'attempt' must be a positive integer, got '2'"),
        ("attempt", True, "field 'attempt' must be a positive integer, got True"),
        ("enqueued_at", "yesterday", "field 'enqueued_at' must be a number, got 'yesterday'"),
        ("enqueued_at", False, "field 'enqueued_at' must be a number, got False"),
        ("options", [], "field 'options' must be a JSON object, got []"),
        ("queue", 3, "field 'queue' must be a string, got 3"),
    ],
)
def test_wrong_shaped_fields_are_refused_by_name(key: str, value: Any, words: str) -> None:
    """Each field of the wrong JSON type is refused, naming the field and the value."""
    with pytest.raises(InvalidMessage, match=re.escape(words)):
        Envelope.decode(json.dumps(valid(**{key: value})))


def test_huge_wrong_value_is_truncated_in_the_message() -> None:
    """A huge wrong-typed value is shown cut to 80 characters, not in full."""
    with pytest.raises(InvalidMessage) as info:
        Envelope.from_dict(valid(args="x" * 10_000))
    assert len(str(info.value)) < 160


def test_invalid_message_is_a_queue_error_and_value_error() -> None:
    """InvalidMessage can be caught as QueueError and as ValueError."""
    with pytest.raises(InvalidMessage) as info:
        Envelope.decode(b"nope")
    assert isinstance(info.value, QueueError) and isinstance(info.value, ValueError)


def test_non_standard_json_constants_are_refused() -> None:
    """A message using NaN (not JSON, never written by encode) is refused as malformed."""
    raw = json.dumps(valid(args=[float("nan")]))
    assert "NaN" in raw
    with pytest.raises(InvalidMessage):
        Envelope.decode(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"id": "abc", "v": 99}', "abc"),
        ('{"id": "abc"}', "abc"),
        ({"id": "from-dict"}, "from-dict"),
        (b'{"id": "' + b"x" * 100 + b'"}', "x" * 64),
        (b'{"id": 5}', None),
        (b"[1]", None),
        (b"{broken", None),
        (b"\xff\xfe\x00", None),
        (None, None),
    ],
)
def test_peek_id_finds_the_id_of_a_broken_message_when_it_can(
    raw: Any, expected: str | None
) -> None:
    """peek_id returns a str id (at most 64 characters) or None, and never raises."""
    assert peek_id(raw) == expected


def test_json_writer_writes_what_compact_json_dumps_writes() -> None:
    """The kept C encoder writes json.dumps's compact output and refuses NaN and non-JSON."""
    from queuekit.envelope import json_writer

    value = {"a": [1, 2.5, None, True, "é\n"], "b": {"c": -0.0}, "d": 10**30}
    assert json_writer()(value) == json.dumps(value, separators=(",", ":"))
    assert json_writer(ensure_ascii=False)(value) == json.dumps(
        value, separators=(",", ":"), ensure_ascii=False
    )
    with pytest.raises(ValueError):
        json_writer()([float("nan")])
    with pytest.raises(TypeError, match="set is not JSON serializable"):
        json_writer()({"s": {1}})
