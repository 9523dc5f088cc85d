"""The ``queuekit`` command: backends, info, enqueue and worker.

Configuration comes from ``--backend``/``--url``/``--option key=value``, else from
``QUEUEKIT_*`` environment variables, else from the app given with ``--app``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from . import jobs
from .base import BaseQueue
from .config import DEFAULT_PREFIX, create_queue, read_prefixed
from .exceptions import ConfigurationError, QueueError
from .redact import redact, redact_options
from .registry import available_backends

_FLAGS = ("delay", "priority", "results", "retries", "timeout", "named_queues", "bulk", "cancel")


class CommandError(QueueError):
    """A command-line mistake; printed without a traceback."""


def _parse_option(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--option takes key=value, got {text!r}")
    return key.strip().lower(), value


def _common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("configuration")
    group.add_argument("--app", help="MODULE[:ATTR] to import: jobs, and an app, queue or factory")
    group.add_argument("--backend", help="backend alias or class path (default: $QUEUEKIT_BACKEND)")
    group.add_argument("--url", help="engine URL (default: $QUEUEKIT_URL)")
    group.add_argument(
        "--option",
        "-o",
        action="append",
        default=[],
        type=_parse_option,
        metavar="KEY=VALUE",
        help="a backend option; repeatable",
    )
    group.add_argument(
        "--prefix",
        default=DEFAULT_PREFIX,
        help=f"config/env key prefix (default {DEFAULT_PREFIX}; PI_JOB_QUEUE_ for privacyIDEA)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="queuekit", description="One job API over many queue engines."
    )
    parser.add_argument("--version", action="version", version="queuekit 0.1.0")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("backends", help="list known backends, their versions and capabilities")

    info = commands.add_parser("info", help="show the configured queue, its jobs and waiting count")
    _common(info)

    enqueue = commands.add_parser("enqueue", help="enqueue one job by name")
    _common(enqueue)
    enqueue.add_argument("name", help="the job's registered name")
    enqueue.add_argument("--args", default="[]", help="positional arguments as a JSON list")
    enqueue.add_argument("--kwargs", default="{}", help="keyword arguments as a JSON object")
    enqueue.add_argument("--queue", help="named queue")
    enqueue.add_argument("--delay", type=float, help="seconds to wait before the job may run")
    enqueue.add_argument("--priority", type=int, help="higher runs sooner")

    worker = commands.add_parser("worker", help="run the configured backend's worker")
    _common(worker)
    worker.add_argument(
        "--queues", "-Q", help="comma-separated queue names (default: the default queue)"
    )
    worker.add_argument("--concurrency", "-c", type=int, help="jobs run at once")
    worker.add_argument("--burst", action="store_true", help="exit once no job is due")
    worker.add_argument("--logfile", "-l", help="log to this file instead of stderr")
    worker.add_argument("--loglevel", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    return parser


def _import_target(spec: str) -> tuple[Any, Any]:
    """Import ``MODULE[:ATTR]``; return (module, object or None). A factory is called."""
    module_name, _, attr = spec.partition(":")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise CommandError(
                f"--app {spec!r}: no module named {exc.name!r}; run from the directory that "
                f"contains it or add it to PYTHONPATH."
            ) from exc
        raise
    if not attr:
        return module, None
    try:
        target = getattr(module, attr)
    except AttributeError:
        raise CommandError(
            f"--app {spec!r}: module {module_name!r} has no attribute {attr!r}."
        ) from None
    is_thing = isinstance(target, (BaseQueue, jobs.JobCollector, Mapping)) or hasattr(
        target, "config"
    )
    if callable(target) and not is_thing:
        target = target()
    return module, target


def _explicit_config(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    backend, options = read_prefixed(os.environ, args.prefix)
    if args.backend:
        backend = args.backend
    if args.url:
        options["url"] = args.url
    options.update(dict(args.option))
    return backend, options


def build_queue(args: argparse.Namespace) -> BaseQueue:
    """The queue the command line, the environment or the ``--app`` configures."""
    target = _import_target(args.app)[1] if args.app else None
    backend, options = _explicit_config(args)
    collector = target if isinstance(target, jobs.JobCollector) else jobs.JOB_COLLECTOR
    if isinstance(target, BaseQueue):
        return target
    if backend not in (None, "") or options.get("url"):
        queue = create_queue(options, backend=backend or None)
        collector.register_jobs(queue)
        if target is not None and hasattr(target, "config"):
            queue.app = target
        return queue
    if target is not None and (hasattr(target, "config") or isinstance(target, Mapping)):
        registered = collector.register_app(target, prefix=args.prefix)
        if registered is not None:
            return registered
    if jobs.has_job_queue(target if hasattr(target, "config") else None):
        return jobs.get_job_queue(target if hasattr(target, "config") else None)
    raise ConfigurationError(
        f"No backend configured: pass --backend (or --url), set {args.prefix}BACKEND, or point "
        f"--app at an app whose config sets it."
    )


def _cmd_backends(args: argparse.Namespace) -> int:
    rows = [["backend", "distribution", "version", "status", *_FLAGS, "delivery"]]
    for name, info in available_backends().items():
        status = "ok" if info.importable else ("missing" if not info.installed else "broken")
        caps = info.capabilities
        flags = ["yes" if caps.get(flag) else ("no" if caps else "-") for flag in _FLAGS]
        rows.append(
            [
                name,
                info.distribution or "-",
                info.version or "-",
                status,
                *flags,
                str(caps.get("delivery", "-")),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    for name, info in available_backends().items():
        if info.error:
            print(f"{name}: {redact(info.error)}")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    queue = build_queue(args)
    try:
        print(
            f"backend: {queue.backend_name} ({type(queue).__module__}.{type(queue).__qualname__})"
        )
        for key, value in redact_options(queue.options).items():
            print(f"option {key}: {value}")
        caps = queue.capabilities()
        print("capabilities: " + ", ".join(f"{k}={v}" for k, v in caps.items()))
        print(f"jobs ({len(queue.jobs)}): " + ", ".join(sorted(queue.jobs)))
        try:
            print(f"waiting in {queue.default_queue!r}: {len(queue)}")
        except QueueError as exc:
            print(f"waiting: unknown ({exc})")
    finally:
        queue.close()
    return 0


def _json_arg(flag: str, text: str, kind: type) -> Any:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise CommandError(f"{flag} must be JSON, got {text!r}: {exc}") from None
    if not isinstance(value, kind):
        raise CommandError(
            f"{flag} must be a JSON {'list' if kind is list else 'object'}, got {text!r}"
        )
    return value


def _cmd_enqueue(args: argparse.Namespace) -> int:
    call_args = _json_arg("--args", args.args, list)
    call_kwargs = _json_arg("--kwargs", args.kwargs, dict)
    options = {
        k: getattr(args, k) for k in ("queue", "delay", "priority") if getattr(args, k) is not None
    }
    queue = build_queue(args)
    try:
        print(queue.enqueue(args.name, call_args, call_kwargs, **options))
    finally:
        queue.close()
    return 0


def configure_logging(logfile: str | None, level: str) -> None:
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise CommandError(
            f"--loglevel {level!r} is not a level; use DEBUG, INFO, WARNING or ERROR."
        )
    handler: logging.Handler = logging.FileHandler(logfile) if logfile else logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s %(process)d: %(message)s")
    )
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(numeric)


def _cmd_worker(args: argparse.Namespace) -> int:
    configure_logging(args.logfile, args.loglevel)
    queue = build_queue(args)
    queues = [q.strip() for q in args.queues.split(",") if q.strip()] if args.queues else None
    try:
        queue.run_worker(queues=queues, concurrency=args.concurrency, burst=args.burst)
    finally:
        queue.close()
    return 0


_COMMANDS = {
    "backends": _cmd_backends,
    "info": _cmd_info,
    "enqueue": _cmd_enqueue,
    "worker": _cmd_worker,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``queuekit`` and ``python -m queuekit``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except QueueError as exc:
        print(f"queuekit {args.command}: error: {redact(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
