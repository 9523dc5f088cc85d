"""``manage.py queuekit_worker``: run the worker of one QUEUEKIT alias."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError  # type: ignore[import-untyped]

from queuekit.exceptions import QueueError


class Command(BaseCommand):  # type: ignore[misc]
    help = "Run the queuekit worker of a settings.QUEUEKIT alias (default: 'default')."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--alias", default="default", help="the QUEUEKIT alias to work")
        parser.add_argument("--queues", "-Q", help="comma-separated queues (default: QUEUES)")
        parser.add_argument("--concurrency", "-c", type=int, help="jobs run at once")
        parser.add_argument("--burst", action="store_true", help="exit once no job is due")
        parser.add_argument("--logfile", "-l", help="log to this file instead of stderr")
        parser.add_argument("--loglevel", default="INFO", help="DEBUG, INFO, WARNING or ERROR")

    def handle(self, *args: Any, **options: Any) -> None:
        from django.db import close_old_connections, connections  # type: ignore[import-untyped]

        from queuekit.cli import configure_logging
        from queuekit.contrib.django import get_queue, get_settings
        from queuekit.events import Event, subscribe

        try:
            queue = get_queue(options["alias"])
            settings = get_settings(options["alias"])
            configure_logging(options["logfile"], options["loglevel"])
        except QueueError as exc:
            raise CommandError(str(exc)) from None
        if options["concurrency"] is not None and options["concurrency"] < 1:
            raise CommandError(f"--concurrency must be >= 1, got {options['concurrency']}.")
        queues: list[str] | None = list(settings.queues) or None
        if options["queues"]:
            queues = [q.strip() for q in options["queues"].split(",") if q.strip()]

        def fresh_connections(event: Event) -> None:
            # As Django does around each request: drop connections that are broken or past
            # CONN_MAX_AGE, so a long-lived worker survives a database restart.
            if event.kind in ("started", "succeeded", "failed"):
                close_old_connections()

        unsubscribe = subscribe(fresh_connections)
        connections.close_all()  # a forking worker must not share this process's sockets
        try:
            queue.run_worker(
                queues=queues, concurrency=options["concurrency"], burst=options["burst"]
            )
        finally:
            unsubscribe()
            queue.close()
