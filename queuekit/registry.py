"""Name -> backend class: entry-point aliases, dotted class paths and in-process registrations.

Only the backend asked for is imported. A miss says what to install or what was meant.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .base import BaseQueue, capability_row
from .exceptions import BackendImportError, BackendNotFound, ConfigurationError, DuplicateBackend
from .options import suggest
from .redact import redact

if TYPE_CHECKING:
    from importlib import metadata

GROUP = "queuekit.backends"

#: First-party backends shipped as sibling distributions: alias -> extra of ``queuekit``.
FIRST_PARTY = {"huey": "huey", "rq": "rq", "celery": "celery", "kombu": "kombu"}

#: Class paths users carry over from privacyIDEA and eduMFA, and what replaces them.
LEGACY_PATHS = {
    "privacyidea.lib.queues.huey_queue.HueyQueue": "queuekit_huey.HueyQueue",
    "edumfa.lib.queues.huey_queue.HueyQueue": "queuekit_huey.HueyQueue",
}

_lock = threading.Lock()
_scanned: dict[str, list[metadata.EntryPoint]] | None = None
_in_process: dict[str, type[BaseQueue]] = {}


def install_hint(alias: str) -> str:
    extra = FIRST_PARTY.get(alias)
    return f"pip install 'queuekit[{extra}]'" if extra else f"pip install queuekit-{alias}"


def _dist_name(entry_point: metadata.EntryPoint) -> str:
    dist = getattr(entry_point, "dist", None)
    return dist.name if dist is not None else "<unknown distribution>"


def _dist_version(entry_point: metadata.EntryPoint) -> str | None:
    dist = getattr(entry_point, "dist", None)
    return dist.version if dist is not None else None


def _normalize(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _entry_points(rescan: bool = False) -> dict[str, list[metadata.EntryPoint]]:
    """Alias -> entry points declaring it, one per distinct distribution. Read, never loaded."""
    global _scanned
    with _lock:
        if _scanned is None or rescan:
            from importlib import metadata  # ~10 ms: only when a backend is looked up

            table: dict[str, list[metadata.EntryPoint]] = {}
            for entry_point in metadata.entry_points(group=GROUP):
                same = table.setdefault(entry_point.name, [])
                # One distribution seen twice on sys.path (editable + site) is not a conflict.
                dist = _normalize(_dist_name(entry_point))
                if all(_normalize(_dist_name(e)) != dist for e in same):
                    same.append(entry_point)
            _scanned = table
        return _scanned


def register_backend(name: str, cls: type[BaseQueue], *, replace: bool = False) -> None:
    """Make ``cls`` available under ``name`` in this process (tests, applications, plugins)."""
    _check_class(cls, name)
    if not replace and (name in _in_process and _in_process[name] is not cls):
        raise DuplicateBackend(
            f"Backend {name!r} is already registered in this process as "
            f"{_in_process[name].__module__}.{_in_process[name].__qualname__}; pass replace=True "
            f"to override it."
        )
    _in_process[name] = cls


def unregister_backend(name: str) -> None:
    """Remove a backend registered with :func:`register_backend`."""
    _in_process.pop(name, None)


def _check_class(obj: Any, where: str) -> type[BaseQueue]:
    if not (isinstance(obj, type) and issubclass(obj, BaseQueue)):
        raise ConfigurationError(
            f"{where!r} resolves to {obj!r}, which is not a queuekit.BaseQueue subclass; point "
            f"the configuration at a backend class."
        )
    return obj


def _known_aliases() -> list[str]:
    return sorted({*_entry_points(), *_in_process, *FIRST_PARTY})


def _load_entry_point(alias: str, entry_point: metadata.EntryPoint) -> type[BaseQueue]:
    dist = _dist_name(entry_point)
    module = entry_point.value.split(":")[0]
    try:
        obj = entry_point.load()
    except ModuleNotFoundError as exc:
        missing = exc.name or "?"
        if module == missing or module.startswith(missing + "."):
            raise BackendImportError(
                f"Backend {alias!r} is declared by {dist} as {entry_point.value!r}, but module "
                f"{module!r} does not exist; reinstall it: pip install --force-reinstall {dist}."
            ) from exc
        raise BackendImportError(
            f"Backend {alias!r} (from {dist}) needs the module {missing!r}, which is not "
            f"installed. Install it with: {install_hint(alias)}",
            name=missing,
        ) from exc
    except ImportError as exc:
        raise BackendImportError(
            f"Importing backend {alias!r} from {entry_point.value!r} ({dist}) failed: {exc}"
        ) from exc
    except AttributeError as exc:
        raise BackendImportError(
            f"Backend {alias!r} is declared by {dist} as {entry_point.value!r}, which does not "
            f"exist: {exc}"
        ) from exc
    return _check_class(obj, entry_point.value)


def _split_path(path: str) -> tuple[str, str]:
    if ":" in path:
        module, _, attr = path.partition(":")
    else:
        module, _, attr = path.rpartition(".")
    if not module or not attr:
        raise BackendNotFound(
            f"Backend class path {path!r} must name a module and a class, like "
            f"'package.module.Class' or 'package.module:Class'."
        )
    return module, attr


def _path_hint(path: str, replacement: str | None) -> str:
    """What to do about a class path whose module is missing."""
    target = replacement or path
    alias = target.split(".")[0].removeprefix("queuekit_")
    if target.startswith("queuekit_") and alias in FIRST_PARTY:
        moved = f" queuekit replaces it with {replacement!r}." if replacement else ""
        return f"{moved} Install it with: {install_hint(alias)}"
    if replacement:
        return f" queuekit replaces it with {replacement!r}."
    candidates = [c for c in [*_known_aliases(), *LEGACY_PATHS.values()] if c != path]
    return suggest(path, candidates)


def _load_path(path: str) -> type[BaseQueue]:
    module_name, attr = _split_path(path)
    replacement = LEGACY_PATHS.get(path)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or "?"
        if module_name == missing or module_name.startswith(missing + "."):
            hint = _path_hint(path, replacement)
            raise BackendNotFound(
                f"No backend class {path!r}: module {module_name!r} cannot be found "
                f"(no module named {missing!r}).{hint}"
            ) from exc
        raise BackendImportError(
            f"Backend class {path!r} needs the module {missing!r}, which is not installed.",
            name=missing,
        ) from exc
    except ImportError as exc:
        raise BackendImportError(f"Importing backend class {path!r} failed: {exc}") from exc
    try:
        obj = getattr(module, attr)
    except AttributeError:
        classes = [
            name
            for name, value in vars(module).items()
            if isinstance(value, type) and issubclass(value, BaseQueue)
        ]
        raise BackendNotFound(
            f"No backend class {path!r}: module {module_name!r} has no attribute {attr!r}."
            f"{suggest(attr, classes)}"
        ) from None
    return _check_class(obj, path)


def get_backend(name: str | type[BaseQueue]) -> type[BaseQueue]:
    """Resolve an alias (``'memory'``), a class path (``'pkg.mod:Class'``) or a class."""
    if isinstance(name, type):
        return _check_class(name, name.__qualname__)
    if not isinstance(name, str) or not name.strip():
        raise BackendNotFound(
            f"A backend must be named by an alias or a class path, got {name!r}; "
            f"known aliases: {', '.join(_known_aliases())}."
        )
    name = name.strip()
    if "://" in name:
        raise BackendNotFound(
            f"{redact(name)!r} is a URL, not a backend; pass it as url= (or QUEUEKIT_URL) and "
            f"name the backend with backend=, or write '<backend>+{redact(name)}'."
        )
    if name in _in_process:
        return _in_process[name]
    if "." in name or ":" in name:
        return _load_path(name)
    found = _entry_points().get(name) or _entry_points(rescan=True).get(name)
    if not found:
        if name in FIRST_PARTY:
            raise BackendNotFound(
                f"Backend {name!r} is not installed. Install it with: {install_hint(name)}"
            )
        raise BackendNotFound(
            f"No such backend: {name!r}.{suggest(name, _known_aliases())} Known backends: "
            f"{', '.join(_known_aliases())}; a class path like 'package.module:Class' works too."
        )
    if len(found) > 1:
        owners = " and ".join(f"{_dist_name(e)} ({e.value})" for e in found)
        raise DuplicateBackend(
            f"Backend alias {name!r} is declared by two distributions: {owners}. Uninstall one, "
            f"or configure the class path of the one you want."
        )
    return _load_entry_point(name, found[0])


@dataclass(frozen=True)
class BackendInfo:
    """One row of :func:`available_backends`."""

    name: str
    distribution: str | None
    version: str | None
    target: str
    installed: bool
    importable: bool
    error: str | None = None
    capabilities: Mapping[str, bool | str] = field(default_factory=dict)


def _info(name: str, entry_points: list[metadata.EntryPoint]) -> BackendInfo:
    if name in _in_process:
        cls = _in_process[name]
        target = f"{cls.__module__}:{cls.__qualname__}"
        return BackendInfo(name, None, None, target, True, True, None, capability_row(cls))
    if not entry_points:
        return BackendInfo(
            name,
            f"queuekit-{name}",
            None,
            "",
            False,
            False,
            f"not installed: {install_hint(name)}",
        )
    first = entry_points[0]
    try:
        cls = get_backend(name)
    except (BackendImportError, DuplicateBackend) as exc:
        return BackendInfo(
            name, _dist_name(first), _dist_version(first), first.value, True, False, str(exc)
        )
    return BackendInfo(
        name,
        _dist_name(first),
        _dist_version(first),
        first.value,
        True,
        True,
        None,
        capability_row(cls),
    )


def available_backends() -> Mapping[str, BackendInfo]:
    """A read-only view of every known backend, installed or not; imports each installed one."""
    table = _entry_points(rescan=True)
    names = sorted({*table, *_in_process, *FIRST_PARTY})
    return MappingProxyType({name: _info(name, table.get(name, [])) for name in names})
