"""The ``queuekit`` command: backends, info, enqueue and worker.

Configuration, strongest first: ``--backend``/``--url``/``--option key=value``, then
``QUEUEKIT_*`` environment variables, then the config of the app given with ``--app``. Options
merge key by key; when the flags or the environment name the backend (or a URL), the app's
config is not read.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, NoReturn

from . import __version__, jobs
from .base import CAPABILITIES, BaseQueue
from .config import DEFAULT_PREFIX, create_queue, read_prefixed
from .exceptions import ConfigurationError, QueueError, UnknownJob
from .redact import redact, redact_options
from .registry import available_backends


class CommandError(QueueError):
    """A command-line mistake; printed without a traceback."""


class _Parser(argparse.ArgumentParser):
    """argparse echoes bad arguments (``unrecognized arguments: --ulr redis://u:pw@h``);
    redact them like every other message."""

    def error(self, message: str) -> NoReturn:
        super().error(redact(message))


def _parse_option(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(
            f"--option takes key=value, like -o url=redis://localhost/0; got {redact(text)!r}"
        )
    return key.strip().lower(), value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


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
    parser = _Parser(prog="queuekit", description="One job API over many queue engines.")
    parser.add_argument("--version", action="version", version=f"queuekit {__version__}")
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
    worker.add_argument("--concurrency", "-c", type=_positive_int, help="jobs run at once")
    worker.add_argument("--burst", action="store_true", help="exit once no job is due")
    worker.add_argument("--logfile", "-l", help="log to this file instead of stderr")
    worker.add_argument("--loglevel", default="INFO", help="DEBUG, INFO, WARNING or ERROR")

    failed = commands.add_parser("failed", help="list, show, retry or purge jobs that failed")
    actions = failed.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="failed jobs, newest first")
    listing.add_argument("--limit", type=_positive_int, help="show at most this many")
    show = actions.add_parser("show", help="one failed job with its envelope and traceback")
    show.add_argument("id")
    retry = actions.add_parser("retry", help="enqueue failed jobs again under their ids")
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("id", nargs="?")
    which.add_argument("--all", action="store_true", help="every failed job")
    actions.add_parser("purge", help="forget every failed job")
    for action in actions.choices.values():
        _common(action)

    purge = commands.add_parser("purge", help="delete jobs waiting in a queue")
    _common(purge)
    purge.add_argument("--queue", help="only this queue (default: every queue)")

    prune = commands.add_parser("prune", help="delete finished jobs' results")
    _common(prune)
    prune.add_argument(
        "--older-than", type=float, help="age in seconds (default: the backend's result_ttl)"
    )

    outbox = commands.add_parser("outbox", help="relay jobs from a transactional outbox table")
    steps = outbox.add_subparsers(dest="action", required=True, metavar="ACTION")
    relay = steps.add_parser("relay", help="move committed outbox rows to the configured backend")
    _common(relay)
    relay.add_argument("--once", action="store_true", help="send what is committed, then exit")
    relay.add_argument("--batch", type=_positive_int, default=100, help="rows per transaction")
    relay.add_argument("--poll-interval", type=float, default=0.5, help="seconds between looks")
    relay.add_argument(
        "--max-backoff", type=float, default=30.0, help="longest pause after a failed send"
    )
    relay.add_argument("--logfile", "-l", help="log to this file instead of stderr")
    relay.add_argument("--loglevel", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    status = steps.add_parser("status", help="jobs waiting in the outbox, per queue")
    for step in (relay, status):
        step.add_argument("--database", required=True, help="postgresql://... or sqlite:///path")
        step.add_argument("--table", default="queuekit_outbox", help="the outbox table")
    return parser


def _import_target(spec: str) -> tuple[Any, Any]:
    """Import ``MODULE[:ATTR]``; return (module, object or None). A factory is called."""
    module_name, _, attr = spec.partition(":")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # Only a miss of the module itself (or a parent package) is a wrong --app; a missing
        # dependency of the module keeps its own traceback.
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
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
    """(backend, options) from the environment, overridden by the command line."""
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
    if isinstance(target, BaseQueue):
        if args.backend or args.url or args.option:
            raise CommandError(
                f"--app {args.app!r} is a queue built in code; drop --backend, --url and "
                f"--option, or point --app at the app or factory instead."
            )
        return target
    collector = target if isinstance(target, jobs.JobCollector) else jobs.JOB_COLLECTOR
    app = target if hasattr(target, "config") and not isinstance(target, Mapping) else None
    config = app.config if app is not None else target if isinstance(target, Mapping) else None
    backend, options = _explicit_config(args)
    if backend in (None, "") and not options.get("url") and isinstance(config, Mapping):
        # The app names the backend; flags and environment still override its options.
        app_backend, app_options = read_prefixed(config, args.prefix)
        if app_backend not in (None, ""):
            backend, options = app_backend, {**app_options, **options}
    if backend in (None, "") and not options.get("url"):
        if options:
            names = ", ".join(repr(key) for key in sorted(options))
            several = len(options) > 1
            raise ConfigurationError(
                f"{'Options' if several else 'Option'} {names} {'are' if several else 'is'} set "
                f"(by --option or {args.prefix}* variables), but no backend is: pass --backend or "
                f"set {args.prefix}BACKEND."
            )
        if jobs.has_job_queue(app):  # the --app module called register_app() itself
            return jobs.get_job_queue(app)
        raise ConfigurationError(
            f"No backend configured: pass --backend (or --url), set {args.prefix}BACKEND, or "
            f"point --app at an app whose config sets it."
        )
    queue = create_queue(options, backend=backend or None)
    collector.register_jobs(queue)
    if app is not None:
        queue.app = app
    # As register_app() would: a job that calls get_job_queue() finds this queue.
    jobs._store(app, queue)
    return queue


def _cmd_backends(args: argparse.Namespace) -> int:
    backends = available_backends()
    rows = [["backend", "distribution", "version", "status", *CAPABILITIES, "delivery"]]
    for name, info in backends.items():
        status = "ok" if info.importable else ("missing" if not info.installed else "broken")
        caps = info.capabilities
        flags = ["yes" if caps.get(flag) else ("no" if caps else "-") for flag in CAPABILITIES]
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
    for name, info in backends.items():
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


_JSON_KINDS: dict[type, tuple[str, str]] = {
    list: ("list", """'[1, "two"]'"""),
    dict: ("object", """'{"to": "alice"}'"""),
}


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _json_arg(flag: str, text: str, kind: type) -> Any:
    what, example = _JSON_KINDS[kind]
    fix = f"pass a JSON {what}, like {flag} {example}"
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise CommandError(f"{flag} {text!r} is not valid JSON ({exc}); {fix}.") from None
    if not isinstance(value, kind):
        also = " (keyword arguments go in --kwargs)" if isinstance(value, dict) else ""
        raise CommandError(
            f"{flag} {text!r} is a JSON {_json_type(value)}, not {_article(what)} {what}{also}; "
            f"{fix}."
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
    except UnknownJob as exc:
        if args.app:
            raise
        raise CommandError(
            f"{exc} From the command line, pass --app MODULE[:ATTR] naming the module that "
            f"defines it."
        ) from None
    finally:
        queue.close()
    return 0


def configure_logging(logfile: str | None, level: str) -> None:
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise CommandError(
            f"--loglevel {level!r} is not a level; use DEBUG, INFO, WARNING or ERROR."
        )
    try:
        handler: logging.Handler = (
            logging.FileHandler(logfile) if logfile else logging.StreamHandler()
        )
    except OSError as exc:
        raise CommandError(
            f"--logfile {logfile!r} cannot be opened ({exc.strerror}); give a writable path."
        ) from None
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


def _cmd_failed(args: argparse.Namespace) -> int:
    queue = build_queue(args)
    try:
        failed = queue.failed
        if args.action == "list":
            records = failed.list(args.limit)
            for record in records:
                when = datetime.fromtimestamp(record.failed_at, timezone.utc).isoformat(
                    timespec="seconds"
                )
                print(
                    f"{record.id}  {when}  {record.reason:<9}  {record.job_name or '-'}  "
                    f"attempts={record.attempts}  {redact(str(record.error))[:100]}"
                )
            print(f"{len(records)} failed jobs")
        elif args.action == "show":
            print(redact(json.dumps(failed.get(args.id).to_dict(), indent=2)))
        elif args.action == "retry":
            ids = failed.retry_all() if args.all else [failed.retry(args.id)]
            for job_id in ids:
                print(f"requeued {job_id}")
        else:
            print(f"purged {failed.purge()} failed jobs")
    finally:
        queue.close()
    return 0


def _cmd_purge(args: argparse.Namespace) -> int:
    queue = build_queue(args)
    try:
        print(f"deleted {queue.purge(args.queue)} waiting jobs")
    finally:
        queue.close()
    return 0


def _cmd_prune(args: argparse.Namespace) -> int:
    queue = build_queue(args)
    try:
        print(f"deleted {queue.prune(args.older_than)} finished jobs")
    finally:
        queue.close()
    return 0


def _cmd_outbox(args: argparse.Namespace) -> int:
    from . import outbox  # only this command needs it

    if args.action == "status":
        print("\n".join(outbox.status_lines(args.database, args.table)))
        return 0
    configure_logging(args.logfile, args.loglevel)
    queue = build_queue(args)
    relay = outbox.Relay(
        queue,
        args.database,
        table=args.table,
        batch=args.batch,
        poll_interval=args.poll_interval,
        max_backoff=args.max_backoff,
    )
    try:
        if args.once:
            delivered, failed = relay.run_once()
            print(
                f"relayed {delivered} jobs" + (f", {failed} stay in the outbox" if failed else "")
            )
            return 1 if failed else 0
        relay.run()
    finally:
        relay.close()
        queue.close()
    return 0


_COMMANDS = {
    "backends": _cmd_backends,
    "info": _cmd_info,
    "enqueue": _cmd_enqueue,
    "worker": _cmd_worker,
    "failed": _cmd_failed,
    "purge": _cmd_purge,
    "prune": _cmd_prune,
    "outbox": _cmd_outbox,
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
    except Exception as exc:
        # A driver's error may quote its connection URL: keep the traceback, not the password.
        print(redact("".join(traceback.format_exception(exc))), file=sys.stderr, end="")
        print(
            f"queuekit {args.command}: error: unexpected {type(exc).__name__}: {redact(str(exc))}",
            file=sys.stderr,
        )
        return 1
