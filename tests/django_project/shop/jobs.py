"""Found by autodiscovery: the queuekit app imports every installed app's ``jobs`` module."""

from __future__ import annotations

import os

from queuekit import job

from .models import Order


@job("shop.ship")
def ship(order_id: int) -> str:
    """Mark the order shipped through the ORM; fails if the order's row is not committed."""
    updated = Order.objects.filter(pk=order_id).update(shipped=True, shipped_by=os.getpid())
    if updated != 1:
        raise LookupError(f"order {order_id} does not exist: the job ran before the commit")
    return f"shipped {order_id}"


@job("shop.notify", queue="mail")
def notify(order_id: int) -> int:
    """A job on the 'mail' queue."""
    return order_id
