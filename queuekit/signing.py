"""Optional HMAC signatures on envelopes, and the payload size limit, applied where they are encoded.

With ``secret_key`` set, every envelope carries ``"sig"``: HMAC-SHA256 over its canonical JSON
(sorted keys, no spaces) without the signature. Workers refuse unsigned or tampered envelopes.
Several comma-separated keys rotate: the first signs, every one verifies.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .exceptions import ConfigurationError, InvalidMessage

#: The default for ``max_payload_bytes``: 1 MiB of encoded envelope.
DEFAULT_MAX_PAYLOAD = 1024 * 1024


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False)


def canonical(data: dict[str, Any]) -> bytes:
    """The signed form of a message: sorted keys, no spaces."""
    return _CANONICAL.encode(data).encode()


class Signer:
    """Signs with the first key, accepts any of them (key rotation)."""

    def __init__(self, keys: Sequence[str]) -> None:
        cleaned = [key.strip() for key in keys if key and key.strip()]
        if not cleaned:
            raise ConfigurationError("secret_key is empty; give a key, or leave it unset.")
        self._keys = [key.encode() for key in cleaned]

    @classmethod
    def from_option(cls, value: str | Sequence[str]) -> Signer:
        return cls(value.split(",") if isinstance(value, str) else value)

    def _digest(self, key: bytes, body: bytes) -> str:
        import hashlib
        import hmac

        return hmac.new(key, body, hashlib.sha256).hexdigest()

    def sign(self, data: dict[str, Any]) -> str:
        return self._digest(self._keys[0], canonical(data))

    def verify(self, data: dict[str, Any]) -> None:
        """Raise :class:`InvalidMessage` unless ``data['sig']`` matches an accepted key."""
        signature = data.get("sig")
        if not isinstance(signature, str):
            raise InvalidMessage(
                "the message is not signed, and this worker accepts only signed envelopes "
                "(secret_key is set); sign the producer with the same secret_key"
            )
        body = canonical({k: v for k, v in data.items() if k != "sig"})
        import hmac

        if not any(hmac.compare_digest(signature, self._digest(k, body)) for k in self._keys):
            raise InvalidMessage(
                "the message's signature matches none of the accepted keys: it was altered "
                "after signing, or signed with a key this worker does not have"
            )

    def __repr__(self) -> str:
        return f"<Signer with {len(self._keys)} key(s)>"


@dataclass(frozen=True)
class Codec:
    """What a queue applies when envelopes are encoded and decoded: signing and size."""

    signer: Signer | None = None
    max_bytes: int = DEFAULT_MAX_PAYLOAD
