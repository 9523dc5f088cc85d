"""JSON for everything huey writes to its storage; nothing is ever pickled.

A task message is a queuekit envelope with one extra key, ``"huey"``, holding huey's own
scheduling fields (eta, priority, ...). Any other value huey stores (job state records,
revocation flags, lock markers) is plain JSON, with tuples, datetimes and huey's ``Error``
tagged so they come back as the same types.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from typing import Any

from huey.registry import Message  # type: ignore[import-untyped]
from huey.serializer import Serializer  # type: ignore[import-untyped]
from huey.utils import Error  # type: ignore[import-untyped]

from queuekit.envelope import json_writer, read_json

#: Huey names a task ``<module>.<class name>``; every queuekit job's task lives in this module.
TASK_MODULE = "queuekit"
#: The task that hands undecodable messages and unknown jobs to the runtime, which refuses them.
REFUSED = "<refused>"
REFUSED_TASK = f"{TASK_MODULE}.{REFUSED}"

#: The huey message fields that travel beside the envelope, under the "huey" key.
_META = (
    "eta",
    "priority",
    "retries",
    "retry_delay",
    "retry_backoff",
    "expires",
    "expires_resolved",
    "timeout",
)
_TAGS = ("$tuple", "$datetime", "$seconds", "$error", "$bytes")
# One writer for every write (UTF-8 as is: the bytes are smaller than with escapes).
_dumps = json_writer(ensure_ascii=False)


class JSONSerializer(Serializer):  # type: ignore[misc]
    """A huey serializer that writes compact UTF-8 JSON (optionally gzip/zlib-compressed)."""

    def __init__(
        self, compression: bool = False, compression_level: int = 6, use_zlib: bool = False
    ) -> None:
        super().__init__(compression, compression_level, use_zlib)
        self._compressor = _Compressor(compression, compression_level, use_zlib)

    def _serialize(self, data: Any) -> bytes:
        obj = _message_to_json(data) if isinstance(data, Message) else _to_json(data)
        return _dumps(obj).encode()

    def serialize_plain(self, obj: dict[str, Any]) -> bytes:
        """What :meth:`serialize` makes of ``obj``, for an object queuekit built of plain JSON
        values (no tuple, datetime, bytes or tag-like dict): without the walk that tags them."""
        data = _dumps(obj).encode()
        return bytes(self._compressor.serialize(data)) if self.comp else data

    def _deserialize(self, data: Any) -> Any:
        if isinstance(data, memoryview):
            data = data.tobytes()
        obj = _loads(data)
        if isinstance(obj, dict) and isinstance(obj.get("huey"), dict):
            return _message_from_json(obj)
        return _from_json(obj)


class _Compressor(Serializer):  # type: ignore[misc]
    """huey's Serializer whose encoding step passes bytes through: only its compression runs."""

    def _serialize(self, data: Any) -> Any:
        return data


def envelope_message(
    envelope: dict[str, Any], eta: datetime | None, priority: int | None
) -> dict[str, Any]:
    """The JSON object a huey message of one queuekit envelope is, as :class:`JSONSerializer`
    writes ``Message(id, name, eta, 0, 0, priority, (envelope,), {})``: the envelope plus huey's
    scheduling fields under ``"huey"``. Built directly, as every enqueue does it."""
    meta: dict[str, Any] = {}
    if eta is not None:
        meta["eta"] = {"$datetime": eta.isoformat()}
    if priority is not None:
        meta["priority"] = priority
    meta["retries"] = 0  # huey never retries a queuekit job: the runtime does
    meta["retry_delay"] = 0
    return {**envelope, "huey": meta}


def _loads(data: Any) -> Any:
    """``json.loads(data, parse_constant=...)`` refusing NaN and Infinity, with the envelope's
    one decoder."""
    if isinstance(data, str):
        if data.startswith("\ufeff"):
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", data, 0)
    elif not isinstance(data, (bytes, bytearray)):
        raise TypeError(
            f"the JSON object must be str, bytes or bytearray, not {type(data).__name__}"
        )
    return read_json(data)


def _message_to_json(message: Any) -> dict[str, Any]:
    if message.on_complete or message.on_error or message.chord_config:
        raise ValueError(
            "queuekit's huey serializer carries queuekit jobs only; huey pipelines, on_error "
            "handlers and chords are not supported."
        )
    meta = {}
    for key in _META:
        value = getattr(message, key)
        if value is not None:
            meta[key] = _to_json(value)
    payload = message.args[0] if len(message.args) == 1 and not message.kwargs else None
    if isinstance(payload, dict):
        return {**payload, "huey": meta}
    if message.name != REFUSED_TASK:
        raise ValueError(
            f"huey task {message.name!r} was not created by queuekit; its arguments must be one "
            f"queuekit envelope."
        )
    raw = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else str(payload)
    return {"id": message.id, "raw": raw, "huey": meta}


def _message_from_json(obj: dict[str, Any]) -> Any:
    meta = {key: _from_json(value) for key, value in obj.pop("huey").items() if key in _META}
    job_id = obj.get("id") if isinstance(obj.get("id"), str) else None
    if "raw" in obj:
        return Message(job_id, REFUSED_TASK, args=(obj["raw"],), kwargs={}, **meta)
    job = obj.get("job")
    name = f"{TASK_MODULE}.{job}" if isinstance(job, str) else REFUSED_TASK
    return Message(job_id, name, args=(obj,), kwargs={}, **meta)


def _to_json(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Error):
        return {"$error": _to_json(value.metadata)}
    if isinstance(value, list):
        return [_to_json(item) for item in value]
    if isinstance(value, tuple):
        return {"$tuple": [_to_json(item) for item in value]}
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in _TAGS:
            raise TypeError(f"cannot store a dict whose only key is {next(iter(value))!r}")
        return {str(key): _to_json(item) for key, item in value.items()}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, timedelta):
        return {"$seconds": value.total_seconds()}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    raise TypeError(
        f"queuekit's huey serializer writes JSON only and cannot store a {type(value).__name__}."
    )


def _from_json(value: Any) -> Any:
    if isinstance(value, list):
        return [_from_json(item) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (tag, inner), *_ = value.items()
        if tag == "$tuple":
            return tuple(_from_json(item) for item in inner)
        if tag == "$datetime":
            return datetime.fromisoformat(inner)
        if tag == "$seconds":
            return timedelta(seconds=inner)
        if tag == "$error":
            return Error(_from_json(inner))
        if tag == "$bytes":
            return base64.b64decode(inner)
    return {key: _from_json(item) for key, item in value.items()}
