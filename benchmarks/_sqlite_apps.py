"""The no-op jobs both sides of the sqlite benchmark run: one queuekit collector, one SqliteHuey app."""

from __future__ import annotations

import os
from pathlib import Path

from queuekit import JobCollector

collector = JobCollector()


def noop(marker: str | None = None) -> None:
    if marker:
        Path(marker).touch()


collector.register_job("bench.noop", noop)

huey = None
if os.environ.get("BENCH_HUEY_DB"):
    from huey import SqliteHuey

    huey = SqliteHuey("bench", filename=os.environ["BENCH_HUEY_DB"], results=False)

    @huey.task(name="bench.noop")
    def huey_noop(marker: str | None = None) -> None:
        noop(marker)
