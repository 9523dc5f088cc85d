"""Autodiscovered by queuekit.contrib.django: every installed app's ``jobs`` module is imported."""

from __future__ import annotations

from queuekit import job

from .models import Order


@job("store.confirm_order")
def confirm_order(order_id: int) -> str:
    """Send the confirmation (here: mark the order) - the row exists, the job ran after commit."""
    order = Order.objects.get(pk=order_id)
    order.confirmed = True
    order.save(update_fields=["confirmed"])
    return f"confirmed order {order_id} for {order.email}"
