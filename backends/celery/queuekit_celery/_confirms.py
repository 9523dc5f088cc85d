"""A batch of Celery messages on RabbitMQ with publisher confirms, confirmed once for the batch.

With ``confirm_publish`` py-amqp's channel waits for the broker's confirm after every message
(its ``basic_publish`` is ``basic_publish_confirm``): a batch costs one round trip (and one
RabbitMQ disk sync) per message. Here the first message of a batch goes through that confirmed
publish, which puts the channel in confirm mode and numbers the rest; the others are written
with the channel's plain publish, and the confirms of all of them are awaited together.
Celery still builds and sends every message (``publish``), so the wire format is Celery's.

A lost connection on the way makes kombu publish again on a new channel, which confirms each
message itself; the messages written on the old channel whose confirms never came are then
sent again (at-least-once: a duplicate rather than a loss).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from amqp import spec  # type: ignore[import-untyped]  # kombu's AMQP client

#: The AMQP methods that answer a publish in confirm mode.
_CONFIRMS = [spec.Basic.Ack, spec.Basic.Nack]
_PUBLISH = spec.Basic.Publish
#: Bytes of frames collected before they are written.
COALESCE_BYTES = 65536


class ConfirmsRefused(Exception):
    """The broker refused (nacked) messages of a batch."""


class _Tracker:
    """The confirms a channel receives while a batch is sent: the highest delivery tag up to
    which every message is confirmed, and the refused ones."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel
        self.acked: int | None = None
        self.nacked: list[int] = []
        self._singles: set[int] = set()
        channel.events["basic_ack"].add(self._on_ack)
        channel.events["basic_nack"].add(self._on_nack)

    def close(self) -> None:
        self.channel.events["basic_ack"].discard(self._on_ack)
        self.channel.events["basic_nack"].discard(self._on_nack)

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        if self.acked is None:  # the first confirm: the batch's first message, sent alone
            self.acked = delivery_tag
            return
        if multiple:
            self.acked = max(self.acked, delivery_tag)
        else:
            self._singles.add(delivery_tag)
        while self.acked + 1 in self._singles:
            self.acked += 1
            self._singles.discard(self.acked)

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        self.nacked.append(delivery_tag)
        self._on_ack(delivery_tag, multiple)

    def wait(self, last: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.acked is not None and self.acked < last:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"the broker did not confirm a batch within {timeout:g} s")
            self.channel.wait(_CONFIRMS, timeout=remaining)


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
    tracker = _Tracker(channel)
    try:
        publish(items[0])
        base = tracker.acked
        if base is None or producer.channel is not channel:
            for item in items[1:]:  # no number to count from: confirm one by one
                publish(item)
            return
        written = 0  # messages after the first written on ``channel`` without a confirm wait
        confirmed_publish = channel.__dict__.get("basic_publish")
        channel.basic_publish = _writer(channel)
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
            tracker.wait(base + written, timeout)
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


@contextlib.contextmanager
def coalesced_writes(connection: Any, enabled: bool = True) -> Iterator[None]:
    """Collect the frames py-amqp writes in the block and send them in one write per 64 KiB,
    at the end of the block: one system call (and one wake-up of the broker) for a batch
    instead of one per message. Nothing in the block may wait for an answer from the broker."""
    transport: Any = getattr(connection, "transport", None)
    write = getattr(transport, "__dict__", {}).get("_write")
    if not enabled or write is None:
        yield
        return
    chunks: list[bytes] = []
    size = 0

    def flush() -> None:
        nonlocal size
        if chunks:
            data = b"".join(chunks)
            chunks.clear()
            size = 0
            write(data)

    def buffered(data: Any) -> None:
        nonlocal size
        chunks.append(bytes(data))  # py-amqp reuses the buffer it hands over
        size += len(data)
        if size >= COALESCE_BYTES:
            flush()

    transport._write = buffered
    try:
        yield
    finally:
        transport._write = write
        flush()


def _writer(channel: Any) -> Callable[..., Any]:
    """A publish that writes the message and returns: the confirms are awaited for the whole
    batch (which also reads any connection.blocked notice py-amqp's publish polls for)."""
    send = channel.send_method

    def publish(
        message: Any,
        exchange: str = "",
        routing_key: str = "",
        mandatory: bool = False,
        immediate: bool = False,
        timeout: float | None = None,
        confirm_timeout: float | None = None,
    ) -> Any:
        return send(_PUBLISH, "Bssbb", (0, exchange, routing_key, mandatory, immediate), message)

    return publish


def _resend(
    tracker: _Tracker,
    base: int,
    written: Sequence[Any],
    rest: Sequence[Any],
    publish: Callable[[Any], None],
) -> None:
    """After a lost connection: send again what was written but not confirmed, then the rest."""
    confirmed = max((tracker.acked or base) - base, 0)
    for item in [*written[confirmed:], *rest]:
        publish(item)
