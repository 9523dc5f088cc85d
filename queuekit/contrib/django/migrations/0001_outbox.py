"""Creates the transactional outbox table (``queuekit_outbox``) on PostgreSQL and SQLite."""

from __future__ import annotations

from typing import Any

from django.db import migrations  # type: ignore[import-untyped]


def create_outbox(apps: Any, schema_editor: Any) -> None:
    from queuekit.outbox import schema

    vendor = schema_editor.connection.vendor
    if vendor not in ("postgresql", "sqlite"):
        return  # the outbox supports these two; after-commit enqueue works everywhere
    for statement in schema(vendor):
        schema_editor.execute(statement)


def drop_outbox(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor in ("postgresql", "sqlite"):
        schema_editor.execute("DROP TABLE IF EXISTS queuekit_outbox")


class Migration(migrations.Migration):  # type: ignore[misc]
    initial = True
    dependencies: list[tuple[str, str]] = []
    operations = [migrations.RunPython(create_outbox, drop_outbox)]
