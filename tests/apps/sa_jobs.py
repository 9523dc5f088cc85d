"""A job that reads the row its transaction wrote: it fails if it runs before the commit."""

from __future__ import annotations

from queuekit import JobCollector

collector = JobCollector()

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def ship(table: str, order_id: int, path: str) -> str:
    """Read order ``order_id`` from ``table`` on PostgreSQL and append ``id item`` to ``path``."""
    import psycopg

    with psycopg.connect(PG_URL) as conn:
        row = conn.execute(f"SELECT item FROM {table} WHERE id = %s", (order_id,)).fetchone()
    if row is None:
        raise LookupError(f"order {order_id} is not in {table}: the job ran before the commit")
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(f"{order_id} {row[0]}\n")
    return str(row[0])


collector.register_job("sa.ship", ship)
