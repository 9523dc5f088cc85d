"""POST /orders/?email=...: the order and its confirmation job commit together, or neither."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest, JsonResponse

from queuekit.contrib.django import enqueue_on_commit

from .jobs import confirm_order
from .models import Order


def place_order(request: HttpRequest) -> JsonResponse:
    email = request.GET["email"]
    with transaction.atomic():
        order = Order.objects.create(email=email)
        job_id = enqueue_on_commit(confirm_order, order.pk)
        if "@" not in email:  # a validation failure after the enqueue: nothing is sent
            transaction.set_rollback(True)
            return JsonResponse({"error": f"{email!r} is not an address"}, status=400)
    return JsonResponse({"order": order.pk, "job": job_id})


def order(request: HttpRequest, pk: int) -> JsonResponse:
    found = Order.objects.filter(pk=pk).first()
    if found is None:
        return JsonResponse({"error": "no such order"}, status=404)
    return JsonResponse({"order": found.pk, "email": found.email, "confirmed": found.confirmed})
