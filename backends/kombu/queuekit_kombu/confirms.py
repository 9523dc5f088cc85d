"""AMQP publisher confirms on py-amqp channels, awaited once for many messages.

py-amqp's channel in confirm mode waits for the broker's confirm after every message (its
``basic_publish`` is ``basic_publish_confirm``): a batch costs one round trip, and one RabbitMQ
disk sync, per message. The pieces here let a publisher write messages without that wait and
await their confirms together. queuekit-kombu publishes through them, and queuekit-celery
(which depends on this distribution) confirms its batches of Celery messages with them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from amqp import spec  # type: ignore[import-untyped]  # kombu's AMQP client

#: The AMQP methods that answer a publish in confirm mode.
CONFIRM_METHODS = [spec.Basic.Ack, spec.Basic.Nack]
_PUBLISH = spec.Basic.Publish
#: Bytes of frames :func:`coalesced_writes` collects before it writes them.
COALESCE_BYTES = 65536


class ConfirmTracker:
    """The confirms one channel receives: ``acked``, the delivery tag up to which every message
    is confirmed (or refused), and the refused (nacked) tags.

    ``acked`` is None until the first confirm arrives. The tracker is made before the first
    message it follows is sent, and every message before that one on the channel was confirmed
    on its own (kombu's confirmed publish), so the first confirm is the base to count from.
    """

    def __init__(self, channel: Any) -> None:
        self.channel = channel
        self.acked: int | None = None
        self.nacked: list[int] = []
        self._singles: set[int] = set()
        #: The channel's ``basic_publish`` without the wait for the confirm.
        self.publish = unconfirmed_publish(channel)
        channel.events["basic_ack"].add(self._on_ack)
        channel.events["basic_nack"].add(self._on_nack)

    def close(self) -> None:
        """Stop following the channel's confirms."""
        self.channel.events["basic_ack"].discard(self._on_ack)
        self.channel.events["basic_nack"].discard(self._on_nack)

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        acked = self.acked
        if acked is None:
            self.acked = delivery_tag
            return
        singles = self._singles
        if multiple:
            acked = max(acked, delivery_tag)
            if singles:
                self._singles = singles = {tag for tag in singles if tag > acked}
        elif delivery_tag == acked + 1:
            acked = delivery_tag
        elif delivery_tag > acked:
            singles.add(delivery_tag)
        while singles and acked + 1 in singles:
            acked += 1
            singles.discard(acked)
        self.acked = acked

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        self.nacked.append(delivery_tag)
        self._on_ack(delivery_tag, multiple)

    def wait(self, first: int, last: int, timeout: float, *, bounded_reads: bool = False) -> None:
        """Block until the messages tagged ``first..last`` are confirmed or refused; raise
        TimeoutError after ``timeout`` seconds. ``bounded_reads``: the socket bounds each read
        itself (SO_RCVTIMEO), so no timeout is set per read (two mode switches of the socket
        around every read otherwise)."""
        if self.acked is not None and self.acked >= last:
            return
        deadline = time.monotonic() + timeout
        while self.acked is None or self.acked < last:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                done = max((self.acked or 0) - first + 1, 0)
                raise TimeoutError(
                    f"the broker confirmed {done} of {last - first + 1} messages within "
                    f"{timeout:g} s"
                )
            self.channel.wait(CONFIRM_METHODS, timeout=None if bounded_reads else remaining)

    def refused(self, first: int, last: int) -> int:
        """How many of the messages tagged ``first..last`` the broker refused."""
        return sum(1 for tag in self.nacked if first <= tag <= last)


def unconfirmed_publish(channel: Any) -> Callable[..., Any]:
    """A ``basic_publish`` for ``channel`` that writes the message and returns: its confirm is
    awaited later, with others' (which also reads any connection.blocked notice py-amqp's own
    publish polls the socket for before every message)."""
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
        # basic.publish(ticket, exchange, routing_key, mandatory, immediate) + the message
        return send(_PUBLISH, "Bssbb", (0, exchange, routing_key, mandatory, immediate), message)

    return publish


@contextlib.contextmanager
def coalesced_writes(connection: Any, enabled: bool = True) -> Iterator[None]:
    """Collect the frames py-amqp writes in the block and send them in one write per 64 KiB:
    one system call (and one wake-up of the broker) for a batch instead of one per message.
    Nothing in the block may wait for an answer from the broker."""
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
