"""A batch of Celery messages on RabbitMQ with publisher confirms, confirmed once for the batch.

With ``confirm_publish`` py-amqp's channel waits for the broker's confirm after every message
(its ``basic_publish`` is ``basic_publish_confirm``): a batch costs one round trip (and one
RabbitMQ disk sync) per message. Here the first message of a batch goes through that confirmed
publish, which puts the channel in confirm mode and numbers the rest; the others are written
with the channel's plain publish, and the confirms of all of them are awaited together.
Celery still builds and sends every message (``publish``), so the wire format is Celery's.
The confirm bookkeeping and the coalesced writes are queuekit-kombu's (``queuekit_kombu.confirms``).

A lost connection on the way makes kombu publish again on a new channel, which confirms each
message itself; the messages written on the old channel whose confirms never came are then
sent again (at-least-once: a duplicate rather than a loss).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from queuekit_kombu.confirms import ConfirmTracker, coalesced_writes


class ConfirmsRefused(Exception):
    """The broker refused (nacked) messages of a batch."""


def publish_confirmed(
    producer: Any,
    items: Sequence[Any],
    publish: Callable[[Any], None],
    timeout: float,
    coalesce: bool = False,
) -> None:
    """Send ``items`` (``publish(item)`` sends one through Celery on ``producer``), waiting for
    the broker's confirms once for the batch; raise if the broker refused any.

    ``coalesce``: the items after the first send no synchronous request (no declare), so their
    frames can go out in one write."""
    channel = producer.channel
    tracker = ConfirmTracker(channel)
    try:
        publish(items[0])
        base = tracker.acked
        if base is None or producer.channel is not channel:
            for item in items[1:]:  # no number to count from: confirm one by one
                publish(item)
            return
        written = 0  # messages after the first written on ``channel`` without a confirm wait
        confirmed_publish = channel.__dict__.get("basic_publish")
        channel.basic_publish = tracker.publish
        try:
            with coalesced_writes(producer.connection.connection, coalesce):
                for index in range(1, len(items)):
                    publish(items[index])
                    if producer.channel is not channel:
                        # kombu reconnected and sent this one, confirmed, on a new channel.
                        reconnected = index
                        break
                    written += 1
                else:
                    reconnected = 0
        finally:
            if confirmed_publish is None:
                channel.__dict__.pop("basic_publish", None)
            else:
                channel.basic_publish = confirmed_publish
        if reconnected:
            _resend(tracker, base, items[1 : 1 + written], items[reconnected + 1 :], publish)
            return
        try:
            tracker.wait(base + 1, base + written, timeout)
        except TimeoutError:
            producer.connection.collect()  # unconfirmed messages must not number the next batch
            raise
        except producer.connection.recoverable_connection_errors:
            _resend(tracker, base, items[1 : 1 + written], [], publish)
            return
    finally:
        tracker.close()
    if tracker.nacked:
        raise ConfirmsRefused(f"the broker refused (nacked) {len(tracker.nacked)} messages")


def _resend(
    tracker: ConfirmTracker,
    base: int,
    written: Sequence[Any],
    rest: Sequence[Any],
    publish: Callable[[Any], None],
) -> None:
    """After a lost connection: send again what was written but not confirmed, then the rest."""
    confirmed = max((tracker.acked or base) - base, 0)
    for item in [*written[confirmed:], *rest]:
        publish(item)
