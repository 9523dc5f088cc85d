"""Configuration -> queue: from a mapping with a prefix (Flask config, pi.cfg, env vars), a URL or keywords."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import BaseQueue
from .exceptions import ConfigurationError
from .jobs import DEFAULT_PREFIX as DEFAULT_PREFIX  # "QUEUEKIT_", defined where @job lives
from .redact import redact
from .registry import FIRST_PARTY, get_backend

#: Keys that name the backend; ``CLASS`` keeps privacyIDEA's ``PI_JOB_QUEUE_CLASS`` working.
BACKEND_KEYS = ("BACKEND", "CLASS")

#: URL schemes that name a backend by themselves.
_SCHEME_BACKENDS = {"memory": "memory", "sqlite": "sqlite"}


def read_prefixed(
    config: Mapping[str, Any], prefix: str = DEFAULT_PREFIX
) -> tuple[Any, dict[str, Any]]:
    """Split ``config`` into (backend, options) using every ``<prefix>*`` key.

    ``<prefix>BACKEND`` (or ``<prefix>CLASS``) names the backend; every other key becomes a
    lower-cased option: ``PI_JOB_QUEUE_URL`` -> ``url``.
    """
    backend: Any = None
    options: dict[str, Any] = {}
    for key, value in config.items():
        if not isinstance(key, str) or not key.startswith(prefix) or key == prefix:
            continue
        rest = key[len(prefix) :]
        if rest in BACKEND_KEYS:
            if backend not in (None, "") and value not in (None, "") and backend != value:
                raise ConfigurationError(
                    f"{prefix}BACKEND and {prefix}CLASS name different backends ({backend!r} and "
                    f"{value!r}); keep one of them."
                )
            backend = value if value not in (None, "") else backend
        else:
            options[rest.lower()] = value
    return backend, options


def _scheme(url: str) -> str:
    from urllib.parse import urlsplit  # with ipaddress, a tenth of ``import queuekit``

    return urlsplit(url).scheme


def backend_from_url(url: str) -> tuple[str, str]:
    """``'memory://'`` -> ('memory', url); ``'rq+redis://h/0'`` -> ('rq', 'redis://h/0')."""
    scheme = _scheme(url) if "://" in url else ""
    if "+" in scheme:
        backend, _, inner = scheme.partition("+")
        return backend, inner + url[len(scheme) :]
    if scheme in _SCHEME_BACKENDS:
        return _SCHEME_BACKENDS[scheme], url
    raise ConfigurationError(
        f"The URL {redact(url)!r} does not say which backend to use. Pass backend= "
        f"({', '.join(sorted(FIRST_PARTY))}, ...) or prefix the scheme with it, like "
        f"'rq+{scheme or 'redis'}://...'."
    )


def create_queue(
    config: Mapping[str, Any] | str | None = None,
    /,
    *,
    backend: str | type[BaseQueue] | None = None,
    prefix: str | None = None,
    **options: Any,
) -> BaseQueue:
    """Build a queue without an application.

    ``config`` is a URL (``'memory://'``, ``'sqlite:///jobs.db'``, ``'rq+redis://localhost/0'``),
    a mapping of lower-case options with a ``backend`` key, or, with ``prefix=``, a mapping of
    prefixed keys such as ``os.environ``. Keywords override the mapping.
    """
    merged: dict[str, Any] = {}
    if isinstance(config, str):
        merged["url"] = config
    elif isinstance(config, Mapping):
        if prefix is not None:
            found, prefixed = read_prefixed(config, prefix)
            merged.update(prefixed)
            if found not in (None, ""):
                merged["backend"] = found
        else:
            merged.update(config)
    elif config is not None:
        raise ConfigurationError(
            f"create_queue() takes a URL or a mapping, got {type(config).__name__}."
        )
    merged.update(options)
    if backend is not None:
        merged["backend"] = backend
    chosen = merged.pop("backend", None)
    if chosen in (None, "") and merged.get("url"):
        chosen, merged["url"] = backend_from_url(str(merged["url"]))
    elif isinstance(merged.get("url"), str) and "+" in _scheme(merged["url"]):
        named, merged["url"] = backend_from_url(merged["url"])
        if named != chosen:
            raise ConfigurationError(
                f"backend={chosen!r} and the URL {redact(str(merged['url']))!r} (which names "
                f"{named!r}) disagree; keep one of them."
            )
    if chosen in (None, ""):
        raise ConfigurationError(
            "No backend configured: pass backend='memory' (or 'sqlite', 'rq', ...), a URL such as "
            "'memory://', or set QUEUEKIT_BACKEND."
        )
    cls = get_backend(chosen)
    return cls(merged)
