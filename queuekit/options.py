"""Backend options: declared once per backend, coerced from strings, typos refused with a suggestion."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .exceptions import ConfigurationError
from .redact import redact

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Option:
    """One configuration key a backend accepts: its type, default and a one-line help text."""

    type: type
    default: Any
    help: str
    choices: tuple[str, ...] | None = None


def suggest(word: str, candidates: Any) -> str:
    """`` Did you mean 'x'?`` for the closest candidate, or an empty string."""
    import difflib  # only a mistake needs it; keeps ``import queuekit`` light

    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def coerce(backend: str, key: str, spec: Option, value: Any) -> Any:
    """Turn ``value`` (often a string from a config file or the environment) into ``spec.type``."""
    if value is None:
        return spec.default
    if isinstance(value, spec.type) and not (spec.type in (int, float) and isinstance(value, bool)):
        result = value
    elif isinstance(value, str) and spec.type is bool:
        lowered = value.strip().lower()
        if lowered not in _TRUE | _FALSE:
            raise ConfigurationError(
                f"Option {key!r} of backend {backend!r} must be a boolean, got {value!r}; "
                f"use true or false."
            )
        result = lowered in _TRUE
    elif (
        isinstance(value, (str, int)) and not isinstance(value, bool) and spec.type in (int, float)
    ):
        try:
            result = spec.type(value)
        except ValueError:
            raise ConfigurationError(
                f"Option {key!r} of backend {backend!r} must be {spec.type.__name__}, got "
                f"{redact(str(value))!r}."
            ) from None
    else:
        raise ConfigurationError(
            f"Option {key!r} of backend {backend!r} must be {spec.type.__name__}, got "
            f"{type(value).__name__} {redact(repr(value))}."
        )
    if spec.choices is not None and result not in spec.choices:
        raise ConfigurationError(
            f"Option {key!r} of backend {backend!r} must be one of {', '.join(spec.choices)}; "
            f"got {result!r}.{suggest(str(result), spec.choices)}"
        )
    return result


def parse_options(
    backend: str,
    schema: Mapping[str, Option],
    raw: Mapping[str, Any],
    *,
    allow_extra: bool = False,
) -> dict[str, Any]:
    """Validate ``raw`` against ``schema``; unknown keys raise unless the backend passes them on."""
    parsed = {key: spec.default for key, spec in schema.items()}
    for key, value in raw.items():
        spec = schema.get(key)
        if spec is None:
            if allow_extra:
                parsed[key] = value
                continue
            raise ConfigurationError(
                f"Unknown option {key!r} for backend {backend!r}.{suggest(key, schema)} "
                f"Known options: {', '.join(sorted(schema))}."
            )
        parsed[key] = coerce(backend, key, spec, value)
    return parsed
