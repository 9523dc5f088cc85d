"""A view that writes an order and enqueues its job in one transaction."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest, JsonResponse

from queuekit.contrib.django import enqueue_on_commit

from .jobs import ship
from .models import Order


def place_order(request: HttpRequest) -> JsonResponse:
    """POST /orders/?item=...&fail=1: with fail=1 the transaction rolls back after enqueueing."""
    with transaction.atomic():
        order = Order.objects.create(item=request.GET["item"])
        job_id = enqueue_on_commit(ship, order.pk)
        if request.GET.get("fail"):
            transaction.set_rollback(True)
    return JsonResponse({"order": order.pk, "job": job_id})
