"""The Flask extension: ``QueueKit(app)`` or ``QueueKit().init_app(app)``.

It reads ``QUEUEKIT_*`` from ``app.config`` exactly as :func:`queuekit.register_app` does (so
``register_app(app)`` in a privacyIDEA-style ``create_app`` keeps working unchanged), registers
every collected job, and adds the ``flask queuekit`` commands::

    flask --app myapp:create_app queuekit worker -c 2
    flask --app myapp:create_app queuekit info

Jobs run inside ``app.app_context()`` in the worker, so ``current_app`` and extensions that
need an app context (Flask-SQLAlchemy, Flask-Mail) work in job code.
"""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from . import jobs
from .base import BaseQueue
from .config import DEFAULT_PREFIX
from .exceptions import QueueError


class QueueKit:
    """Binds queuekit to one or more Flask apps (the application-factory pattern works)."""

    def __init__(
        self,
        app: Flask | None = None,
        *,
        prefix: str = DEFAULT_PREFIX,
        collector: jobs.JobCollector | None = None,
    ) -> None:
        self.prefix = prefix
        self._collector = collector
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> BaseQueue | None:
        """Build ``app``'s queue from its ``<prefix>*`` config and add the ``queuekit`` commands.

        With no ``<prefix>BACKEND`` set the app has no queue (``has_job_queue()`` is False) and
        ``job.enqueue`` raises :class:`~queuekit.NoQueueConfigured` naming the setting.
        """
        collector = self._collector if self._collector is not None else jobs.JOB_COLLECTOR
        queue = collector.register_app(app, prefix=self.prefix)
        if "queuekit" not in app.cli.commands:
            app.cli.add_command(commands)
        return queue

    @property
    def queue(self) -> BaseQueue:
        """The current app's queue (inside an app or request context)."""
        return jobs.get_job_queue(current_app._get_current_object())  # type: ignore[attr-defined]


def _current_queue() -> BaseQueue:
    try:
        return jobs.get_job_queue(current_app._get_current_object())  # type: ignore[attr-defined]
    except QueueError as exc:
        raise click.ClickException(str(exc)) from None


commands = AppGroup("queuekit", help="Run and inspect this app's queuekit queue.")


@commands.command("worker")
@click.option("--queues", "-Q", help="Comma-separated queue names (default: the default queue).")
@click.option("--concurrency", "-c", type=click.IntRange(min=1), help="Jobs run at once.")
@click.option("--burst", is_flag=True, help="Exit once no job is due.")
@click.option("--logfile", "-l", help="Log to this file instead of stderr.")
@click.option("--loglevel", default="INFO", show_default=True, help="DEBUG, INFO, WARNING, ERROR.")
def worker_command(
    queues: str | None, concurrency: int | None, burst: bool, logfile: str | None, loglevel: str
) -> None:
    """Run the configured backend's worker for this app (jobs run in its app context)."""
    from .cli import configure_logging

    queue = _current_queue()
    try:
        configure_logging(logfile, loglevel)
    except QueueError as exc:
        raise click.ClickException(str(exc)) from None
    names = [q.strip() for q in queues.split(",") if q.strip()] if queues else None
    try:
        queue.run_worker(queues=names, concurrency=concurrency, burst=burst)
    finally:
        queue.close()


@commands.command("info")
def info_command() -> None:
    """Show this app's backend, capabilities and registered jobs."""
    from .redact import redact

    queue = _current_queue()
    click.echo(redact(f"backend: {queue!r}"))
    click.echo("capabilities: " + ", ".join(f"{k}={v}" for k, v in queue.capabilities().items()))
    click.echo(f"jobs ({len(queue.jobs)}): " + ", ".join(sorted(queue.jobs)))


__all__ = ["QueueKit", "commands"]
