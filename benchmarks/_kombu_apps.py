"""The no-op job of benchmarks/kombu_vs_celery.py, for queuekit and for celery.

Worker processes import it: `queuekit worker --app _kombu_apps:collector` and
`celery -A _kombu_apps:celery_app worker`, with this directory on PYTHONPATH.
"""

from __future__ import annotations

import os
from typing import Any

from queuekit import JobCollector

AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
CELERY_QUEUE = os.environ.get("BENCH_CELERY_QUEUE", "kombu-bench-celery")

collector = JobCollector()


def noop(i: int = 0) -> None:
    """Do nothing: the benchmark measures the queue, not the job."""


collector.register_job("bench.noop", noop)


def make_celery(confirm: bool) -> Any:
    """A celery app on the same RabbitMQ; ``confirm`` turns on publisher confirms."""
    from celery import Celery

    app = Celery("kombu_bench", broker=AMQP_URL)
    app.conf.update(
        task_default_queue=CELERY_QUEUE,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        worker_prefetch_multiplier=4,
        worker_enable_remote_control=False,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"confirm_publish": confirm},
    )
    app.task(name="bench.noop", ignore_result=True)(noop)
    return app


celery_app = make_celery(confirm=False)
