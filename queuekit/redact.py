"""Keep passwords in connection URLs out of every repr, log line and error message."""

from __future__ import annotations

import re
from typing import Any

# scheme://user:password@host  ->  scheme://user:***@host ; also scheme://:password@host
# The secret runs to the LAST @ before the host, as urllib and redis-py split it.
_USERINFO = re.compile(
    r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*):(?P<secret>[^\s/'\"]*)@(?=[^@\s/'\"]*(?:[/\s'\"]|$))"
)
# ?password=...&  (redis-py and kombu accept the password as a query parameter too)
_QUERY = re.compile(r"(?P<head>[?&](?:password|passwd|pass|secret)=)(?P<secret>[^&#\s]*)", re.I)
MASK = "***"


def redact(text: str) -> str:
    """Return ``text`` with every URL password replaced by ``***``."""
    text = _USERINFO.sub(lambda m: f"{m['head']}:{MASK}@" if m["secret"] else m[0], text)
    return _QUERY.sub(lambda m: f"{m['head']}{MASK}", text)


_SECRET_KEYS = ("password", "secret", "token")


def redact_options(options: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``options`` fit for display: URLs redacted, password-like values masked."""
    shown: dict[str, Any] = {}
    for key, value in options.items():
        if any(word in key.lower() for word in _SECRET_KEYS) and value:
            shown[key] = MASK
        elif isinstance(value, str):
            shown[key] = redact(value)
        else:
            shown[key] = value
    return shown
