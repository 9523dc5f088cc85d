"""Commit, roll back, roll back a savepoint, use the other database alias and the outbox, and
print what the queue held before and after each commit as JSON."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.test import Client

from queuekit.contrib.django import enqueue_on_commit, get_queue, outbox_enqueue
from shop.jobs import notify, ship
from shop.models import Order


class Command(BaseCommand):
    def handle(self, *args: Any, **options: Any) -> None:
        queue = get_queue()
        report: dict[str, Any] = {}

        with transaction.atomic():
            committed = Order.objects.create(item="committed")
            report["committed_job"] = enqueue_on_commit(ship, committed.pk)
            report["waiting_before_commit"] = queue.count()
        report["waiting_after_commit"] = queue.count()
        report["committed"] = committed.pk

        try:
            with transaction.atomic():
                doomed = Order.objects.create(item="rolled back")
                enqueue_on_commit(ship, doomed.pk)
                raise RuntimeError("payment declined")
        except RuntimeError:
            pass
        report["waiting_after_rollback"] = queue.count()

        with transaction.atomic():
            outer = Order.objects.create(item="outer")
            enqueue_on_commit(ship, outer.pk)
            try:
                with transaction.atomic():  # a savepoint
                    inner = Order.objects.create(item="inner")
                    enqueue_on_commit(ship, inner.pk)
                    raise ValueError("inner failure")
            except ValueError:
                pass
        report["outer"], report["inner"] = outer.pk, inner.pk

        # Alias awareness: the job is tied to 'other''s transaction, which rolls back while
        # 'default''s commits.
        with transaction.atomic(using="default"), transaction.atomic(using="other"):
            aliased = Order.objects.using("other").create(item="other alias")
            enqueue_on_commit(ship, aliased.pk, using="other")
            transaction.set_rollback(True, using="other")
        report["waiting_after_other_rollback"] = queue.count()

        with transaction.atomic():
            boxed = Order.objects.create(item="outbox")
            report["outbox_job"] = outbox_enqueue(ship, boxed.pk)
        try:
            with transaction.atomic():
                ghost = Order.objects.create(item="outbox rolled back")
                outbox_enqueue(ship, ghost.pk)
                raise RuntimeError("out of stock")
        except RuntimeError:
            pass
        report["outbox"] = boxed.pk

        enqueue_on_commit(notify, committed.pk)  # autocommit: sent at once, to queue 'mail'
        report["mail_waiting"] = queue.count("mail")

        client = Client()
        good = client.post("/orders/?item=web").json()
        bad = client.post("/orders/?item=web-failed&fail=1").json()
        report["web"], report["web_failed"] = good["order"], bad["order"]
        report["fast_backend"] = get_queue("fast").backend_name
        report["jobs"] = sorted(queue.jobs)
        self.stdout.write(json.dumps(report))
