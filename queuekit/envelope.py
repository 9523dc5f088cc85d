"""The portable, versioned JSON message that every backend carries from producer to worker."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import Any

from .exceptions import InvalidArguments, InvalidMessage
from .signing import Codec

#: The envelope format this queuekit writes. A worker refuses any other version.
VERSION = 1
SUPPORTED_VERSIONS = frozenset({VERSION})

_REQUIRED = {"v": int, "id": str, "job": str, "args": list, "kwargs": dict}


# Random bits for ids, read from os.urandom 64 KiB (4,096 ids) at a time: os.urandom lets
# other threads run while it reads, so a producer beside busy worker threads (the memory
# backend's pool) waited for the GIL on every id (90 us instead of 1). A forked child reads its
# own.
_ID_BLOCK = 65536
_ids = b""
_ids_at = _ID_BLOCK
_ids_lock = threading.Lock()


def _fresh_ids_after_fork() -> None:
    global _ids_at, _ids_lock
    _ids_at, _ids_lock = _ID_BLOCK, threading.Lock()


os.register_at_fork(after_in_child=_fresh_ids_after_fork)


def new_id() -> str:
    """A fresh job id: 32 lowercase hex digits (128 random bits from os.urandom)."""
    global _ids, _ids_at
    with _ids_lock:
        if _ids_at >= _ID_BLOCK:
            _ids, _ids_at = os.urandom(_ID_BLOCK), 0
        block, at = _ids, _ids_at
        _ids_at = at + 16
    return block[at : at + 16].hex()


def _not_json(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def json_writer(*, ensure_ascii: bool = True) -> Callable[[Any], str]:
    """A function writing compact JSON (``","`` and ``":"``, NaN and Infinity refused), built
    once: ``json.dumps`` with options, and even a kept ``JSONEncoder``, set up an encoder on
    every call, which costs a third of encoding a message. Circular structures are not
    detected (they recurse until Python stops them); callers write checked JSON values."""
    c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if c_make_encoder is None:  # an interpreter without json's C accelerator
        return json.JSONEncoder(
            separators=(",", ":"), allow_nan=False, ensure_ascii=ensure_ascii
        ).encode
    encode = c_make_encoder(
        None,  # no circular-reference markers
        _not_json,
        encode_basestring_ascii if ensure_ascii else encode_basestring,
        None,  # no indent
        ":",
        ",",
        False,  # sort_keys
        False,  # skipkeys
        False,  # allow_nan
    )

    def write(value: Any) -> str:
        return "".join(encode(value, 0))

    return write


# One writer for every message.
_dumps = json_writer()


@dataclass
class Envelope:
    """One job invocation, as it travels over any wire.

    ``options`` holds the portable per-call settings the worker needs (timeout,
    retries, ...); engine-specific routing stays with the backend.
    """

    job: str
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=new_id)
    queue: str = "default"
    enqueued_at: float = field(default_factory=time.time)
    attempt: int = 1
    options: dict[str, Any] = field(default_factory=dict)
    version: int = VERSION
    #: The sending queue's signing key and size limit; not part of the message.
    codec: Codec | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The message as a JSON object, signed when the queue has a secret key."""
        data = {
            "v": self.version,
            "id": self.id,
            "job": self.job,
            "args": self.args,
            "kwargs": self.kwargs,
            "queue": self.queue,
            "enqueued_at": self.enqueued_at,
            "attempt": self.attempt,
            "options": self.options,
        }
        if self.codec is not None and self.codec.signer is not None:
            data["sig"] = self.codec.signer.sign(data)
        return data

    def encode(self) -> bytes:
        """The envelope as compact UTF-8 JSON bytes; refuses one over the size limit."""
        data = _dumps(self.to_dict()).encode()
        if self.codec is not None and self.codec.max_bytes and len(data) > self.codec.max_bytes:
            raise InvalidArguments(
                f"Job {self.job!r} encodes to {len(data):,} bytes, over max_payload_bytes="
                f"{self.codec.max_bytes:,}; pass a reference (a database id, a file path) "
                f"instead of the data, or raise max_payload_bytes."
            )
        return data

    @classmethod
    def from_dict(cls, data: Any, codec: Codec | None = None) -> Envelope:
        """Build an envelope from decoded JSON, refusing anything malformed, of another version,
        or (when ``codec`` has a signer) unsigned or tampered."""
        if not isinstance(data, dict):
            raise InvalidMessage(f"a queuekit message is a JSON object, got {type(data).__name__}")
        if codec is not None and codec.signer is not None:
            codec.signer.verify(data)
        version = data.get("v")
        if type(version) is not int:
            raise InvalidMessage(
                f"the message has no integer envelope version 'v' (got {version!r})"
            )
        if version not in SUPPORTED_VERSIONS:
            raise InvalidMessage(
                f"envelope version {version} is not supported by this worker (it reads "
                f"{sorted(SUPPORTED_VERSIONS)}); upgrade queuekit on the worker"
            )
        for key, kind in _REQUIRED.items():
            if type(data.get(key)) is not kind:
                raise InvalidMessage(
                    f"field {key!r} must be a JSON {kind.__name__}, got {data.get(key)!r:.80}"
                )
        attempt = data.get("attempt", 1)
        enqueued_at = data.get("enqueued_at", 0.0)
        options = data.get("options", {})
        queue = data.get("queue", "default")
        if type(attempt) is not int or attempt < 1:
            raise InvalidMessage(f"field 'attempt' must be a positive integer, got {attempt!r:.80}")
        # NaN and Infinity: json.loads of bytes refuses them, a broker's own decoder may not.
        if type(enqueued_at) not in (int, float) or not math.isfinite(enqueued_at):
            raise InvalidMessage(f"field 'enqueued_at' must be a number, got {enqueued_at!r:.80}")
        if type(options) is not dict:
            raise InvalidMessage(f"field 'options' must be a JSON object, got {options!r:.80}")
        if type(queue) is not str:
            raise InvalidMessage(f"field 'queue' must be a string, got {queue!r:.80}")
        return cls(
            job=data["job"],
            args=data["args"],
            kwargs=data["kwargs"],
            id=data["id"],
            queue=queue,
            enqueued_at=float(enqueued_at),
            attempt=attempt,
            options=options,
            version=version,
            codec=codec,
        )

    @classmethod
    def decode(cls, raw: bytes | str | dict[str, Any], codec: Codec | None = None) -> Envelope:
        """Parse wire bytes (or a dict a broker already decoded) into an envelope.

        Raises :class:`InvalidMessage` on anything else, including NaN and Infinity, which
        ``encode`` never writes.
        """
        if isinstance(raw, dict):
            # A broker that decoded the JSON already (huey, rq): measure it as it was sent.
            if codec is not None and codec.max_bytes:
                try:
                    size = len(_dumps(raw).encode())
                except (TypeError, ValueError):
                    size = 0  # not JSON at all; from_dict refuses it
                if size > codec.max_bytes:
                    raise InvalidMessage(
                        f"the message is {size:,} bytes, over max_payload_bytes={codec.max_bytes:,}"
                    )
            return cls.from_dict(raw, codec)
        if not isinstance(raw, (bytes, bytearray, str)):
            raise InvalidMessage(f"a message is JSON bytes or text, got {type(raw).__name__}")
        if codec is not None and codec.max_bytes and len(raw) > codec.max_bytes:
            raise InvalidMessage(
                f"the message is {len(raw):,} bytes, over max_payload_bytes={codec.max_bytes:,}"
            )
        try:
            data = read_json(raw)
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidMessage(f"the message is not valid JSON: {exc}") from None
        return cls.from_dict(data, codec)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# One decoder for every message (it refuses NaN and Infinity, which encode never writes).
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def read_json(data: str | bytes | bytearray) -> Any:
    """What ``json.loads(data)`` does, with the one decoder (``json.loads`` with an option
    builds a new one per call) that refuses NaN and Infinity."""
    if not isinstance(data, str):
        data = data.decode(json.detect_encoding(data), "surrogatepass")
    return _DECODER.decode(data)


def peek_id(raw: Any) -> str | None:
    """Best-effort job id of a message that failed to decode, for the log line."""
    try:
        data = json.loads(raw) if isinstance(raw, (bytes, bytearray, str)) else raw
    except (UnicodeDecodeError, ValueError):
        return None
    if isinstance(data, dict) and isinstance(data.get("id"), str):
        return str(data["id"])[:64]
    return None
