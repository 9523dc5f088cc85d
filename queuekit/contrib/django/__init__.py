"""Django integration: add ``"queuekit.contrib.django"`` to ``INSTALLED_APPS``.

Settings, in the style of Django's ``TASKS`` setting::

    QUEUEKIT = {
        "default": {
            "BACKEND": "sqlite",                    # an alias, or "package.module:Class"
            "OPTIONS": {"path": BASE_DIR / "jobs.db"},
            "QUEUES": ["default", "mail"],          # the names enqueue accepts; the worker's queues
        },
        "fast": {"BACKEND": "rq", "OPTIONS": {"url": "redis://localhost:6379/0"}},
    }

At startup the app imports the ``jobs`` module of every installed app (as the admin does with
``admin`` modules), builds one queue per alias and registers every collected job with each.
``job.enqueue()`` goes to the ``default`` alias; ``job.using(backend=get_queue("fast"))`` to
another. ``manage.py queuekit_worker [--alias fast]`` runs a worker.

``enqueue_on_commit(job, *args, using=None, **kwargs)`` validates now and sends when the
transaction of database ``using`` commits (``transaction.on_commit``); a rollback, or a rolled
back savepoint around the call, drops it. ``outbox_enqueue`` writes the job into the
``queuekit_outbox`` table in that transaction instead (see :mod:`queuekit.outbox`; the app's
migration creates the table), for jobs that must survive a broker outage.

This module imports Django only inside its functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...base import BaseQueue
from ...config import create_queue
from ...exceptions import ConfigurationError
from ...jobs import Job, get_job_queue
from ...options import suggest

#: The setting's name in settings.py.
SETTING = "QUEUEKIT"
DEFAULT_ALIAS = "default"
_KEYS = ("BACKEND", "OPTIONS", "QUEUES")


@dataclass(frozen=True)
class QueueSettings:
    """One alias of the ``QUEUEKIT`` setting, checked."""

    alias: str
    backend: str
    options: dict[str, Any] = field(default_factory=dict)
    queues: tuple[str, ...] = ()

    def create(self) -> BaseQueue:
        """Build the queue: QUEUES become the ``queues`` option (names enqueue accepts) and,
        unless OPTIONS say otherwise, the first of them is the default queue."""
        options = dict(self.options)
        if self.queues:
            options.setdefault("queues", ",".join(self.queues))
            if "default" not in self.queues:
                options.setdefault("default_queue", self.queues[0])
        return create_queue(options, backend=self.backend)


def parse_settings(setting: Any) -> dict[str, QueueSettings]:
    """Check the ``QUEUEKIT`` setting; every mistake raises naming the alias and the fix."""
    if setting is None:
        return {}
    if not isinstance(setting, Mapping):
        raise ConfigurationError(
            f"settings.{SETTING} must be a dict of aliases, like "
            f'{{"default": {{"BACKEND": "sqlite", "OPTIONS": {{"path": "jobs.db"}}}}}}; got '
            f"{type(setting).__name__}."
        )
    if setting and DEFAULT_ALIAS not in setting:
        raise ConfigurationError(
            f"settings.{SETTING} has no {DEFAULT_ALIAS!r} alias (it has "
            f"{', '.join(map(repr, setting))}); job.enqueue() sends to 'default', so define it."
        )
    parsed = {}
    for alias, config in setting.items():
        where = f"settings.{SETTING}[{alias!r}]"
        if not isinstance(config, Mapping):
            raise ConfigurationError(f"{where} must be a dict with BACKEND, OPTIONS and QUEUES.")
        for key in config:
            if key not in _KEYS:
                raise ConfigurationError(
                    f"{where} has an unknown key {key!r}.{suggest(str(key), _KEYS)} "
                    f"Known keys: {', '.join(_KEYS)}."
                )
        backend = config.get("BACKEND")
        if not isinstance(backend, str) or not backend:
            raise ConfigurationError(
                f"{where}['BACKEND'] must name a backend: an alias such as 'sqlite' or 'rq', or "
                f"a class path 'package.module:Class'; got {backend!r}."
            )
        options = config.get("OPTIONS", {})
        if not isinstance(options, Mapping):
            raise ConfigurationError(f"{where}['OPTIONS'] must be a dict, got {options!r}.")
        queues = config.get("QUEUES", ())
        if isinstance(queues, str) or not all(isinstance(q, str) and q for q in queues):
            raise ConfigurationError(
                f"{where}['QUEUES'] must be a list of queue names, like ['default', 'mail']; "
                f"got {queues!r}."
            )
        parsed[alias] = QueueSettings(
            alias,
            backend,
            {
                str(k).lower(): (str(v) if hasattr(v, "__fspath__") else v)
                for k, v in options.items()
            },
            tuple(queues),
        )
    return parsed


#: alias -> (its settings, its queue), filled when the app is ready.
_queues: dict[str, tuple[QueueSettings, BaseQueue]] = {}


def get_queue(alias: str = DEFAULT_ALIAS) -> BaseQueue:
    """The queue of ``alias`` in settings.QUEUEKIT."""
    try:
        return _queues[alias][1]
    except KeyError:
        if not _queues:
            raise ConfigurationError(
                f"No queuekit queues are set up: add 'queuekit.contrib.django' to INSTALLED_APPS "
                f"and define settings.{SETTING}."
            ) from None
        raise ConfigurationError(
            f"settings.{SETTING} has no alias {alias!r}.{suggest(alias, _queues)} Aliases: "
            f"{', '.join(sorted(_queues))}."
        ) from None


def get_settings(alias: str = DEFAULT_ALIAS) -> QueueSettings:
    """The checked settings of ``alias``."""
    get_queue(alias)
    return _queues[alias][0]


def _envelope(job: Job[Any, Any] | str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if isinstance(job, Job):
        queue = job._queue if job._queue is not None else get_job_queue()
        return queue, queue.build_envelope(job.name, args, kwargs, job._call_options)
    queue = get_job_queue()
    return queue, queue.build_envelope(job, args, kwargs)


def enqueue_on_commit(
    job: Job[Any, Any] | str, *args: Any, using: str | None = None, **kwargs: Any
) -> str:
    """Send ``job(*args, **kwargs)`` when the current transaction on database ``using`` commits
    (at once outside a transaction); returns the job id. Mistakes raise here, not at commit."""
    from django.db import transaction  # type: ignore[import-untyped]

    queue, envelope = _envelope(job, args, kwargs)
    transaction.on_commit(lambda: queue._dispatch([envelope]), using=using)
    return str(envelope.id)


def outbox_enqueue(
    job: Job[Any, Any] | str, *args: Any, using: str | None = None, **kwargs: Any
) -> str:
    """Write ``job(*args, **kwargs)`` into the outbox table of database ``using`` within its
    current transaction; ``queuekit outbox relay`` sends it after the commit. Returns the id."""
    from django.db import DEFAULT_DB_ALIAS, connections

    from ...outbox import Outbox

    queue, envelope = _envelope(job, args, kwargs)
    connection = connections[using or DEFAULT_DB_ALIAS]
    return Outbox(queue).write(connection, [envelope])[0]


def setup(setting: Any) -> dict[str, BaseQueue]:
    """Build every alias's queue and register the collected jobs; ``default`` becomes the
    process's queue. Called by the app's ``ready()``; calling it again replaces the queues."""
    from ... import jobs

    parsed = parse_settings(setting)
    for _, old in _queues.values():
        old.close()
    _queues.clear()
    for alias, settings in parsed.items():
        queue = jobs.JOB_COLLECTOR.register_jobs(settings.create())
        _queues[alias] = (settings, queue)
    default = _queues.get(DEFAULT_ALIAS)
    jobs._store(None, default[1] if default else None)
    return {alias: queue for alias, (_, queue) in _queues.items()}


__all__ = [
    "QueueSettings",
    "enqueue_on_commit",
    "get_queue",
    "get_settings",
    "outbox_enqueue",
    "parse_settings",
    "setup",
]
