"""queuekit's worker on kombu's consumer primitives: at-least-once by construction.

Each consumer (one per ``concurrency``; the first in the main thread) owns one connection and
one channel with ``basic_qos(prefetch)``. Deliveries are queued by the kombu callback and handled
between ``drain_events`` calls, so nothing runs re-entrantly inside the AMQP client. A message
is acknowledged only after ``queue.process`` returned: the job succeeded, or failed and was
re-published for a retry, or was kept in the failed store. Messages the worker refuses are
rejected without requeue, and RabbitMQ dead-letters them to ``<prefix>.dead``.

A lost connection (broker restart, network) is re-established with kombu's
``ensure_connection`` and a growing pause; messages that were unacknowledged on the old channel
are redelivered by the broker, so a job interrupted that way runs again.
"""

from __future__ import annotations

import collections
import heapq
import itertools
import socket
import struct
import threading
import time
from typing import TYPE_CHECKING, Any

from queuekit.envelope import Envelope
from queuekit.events import logger
from queuekit.exceptions import InvalidMessage
from queuekit.redact import redact
from queuekit.worker import stop_on_signals

from ._deadletter import REFUSED_HEADER
from ._kombu import Consumer
from ._sockets import plain_socket, read_ahead

if TYPE_CHECKING:
    from queuekit.runtime import Outcome

    from .queue import KombuQueue

#: A message due this close to now runs at once.
TOLERANCE = 0.002
#: Seconds the consume loop waits for a message before it looks at the stop flag again.
POLL = 0.25


def _read_timeout(sock: socket.socket | None, seconds: float) -> None:
    """Let the kernel end a blocking read after ``seconds`` (SO_RCVTIMEO; 0: never)."""
    if sock is not None:
        whole = int(seconds)
        sock.setsockopt(
            socket.SOL_SOCKET,
            socket.SO_RCVTIMEO,
            struct.pack("ll", whole, int((seconds - whole) * 1_000_000)),
        )


def _body(message: Any) -> bytes:
    """The message's bytes (py-amqp hands a body with a content_encoding over as str)."""
    body = message.body
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


class _Stopped(Exception):
    """Raised inside kombu's reconnect loop when the worker is asked to stop."""


class KombuWorker:
    """Runs ``queue.process`` for messages of ``queues`` in ``concurrency`` consumers."""

    def __init__(self, queue: KombuQueue, queues: list[str], concurrency: int, burst: bool) -> None:
        self.queue = queue
        self.queues = queues
        self.concurrency = max(1, concurrency)
        self.burst = burst
        self.stop = threading.Event()
        self.processed = 0
        self._count_lock = threading.Lock()

    def run(self) -> int:
        """Consume until stopped (or, in burst mode, until nothing is due); return jobs handled."""
        logger.info(
            "queuekit kombu worker on %r: queues %s, concurrency %d, prefetch %d%s",
            self.queue,
            ", ".join(self.queues),
            self.concurrency,
            self.queue.options["prefetch"],
            ", burst" if self.burst else "",
        )
        with stop_on_signals(self.stop):
            threads = [
                threading.Thread(target=self._consume, name=f"queuekit-kombu-{i}", daemon=True)
                for i in range(1, self.concurrency)
            ]
            for thread in threads:
                thread.start()
            self._consume()
            for thread in threads:
                while thread.is_alive():
                    thread.join(timeout=0.2)
        logger.info("queuekit kombu worker stopped after %d messages", self.processed)
        return self.processed

    # -- one consumer ---------------------------------------------------------------------------

    def _consume(self) -> None:
        queue = self.queue
        conn = queue.connection(heartbeat=queue.options["heartbeat"] or None)
        recoverable = (*conn.connection_errors, OSError)
        try:
            while not self.stop.is_set():
                try:
                    conn.ensure_connection(
                        errback=self._connect_failed,
                        max_retries=None,
                        interval_start=0.5,
                        interval_step=0.5,
                        interval_max=queue.options["reconnect_max"],
                        callback=self._check_stop,
                    )
                    _Consumer(self, conn).serve()
                    return
                except _Stopped:
                    return
                except recoverable as exc:
                    logger.warning(
                        "queuekit kombu worker: lost the broker at %s (%s: %s); reconnecting",
                        redact(queue.url or ""),
                        type(exc).__name__,
                        redact(str(exc)),
                    )
                    conn.collect()
                    conn = queue.connection(heartbeat=queue.options["heartbeat"] or None)
                    self.stop.wait(0.2)
        finally:
            conn.release()

    def _connect_failed(self, exc: BaseException, interval: float) -> None:
        logger.warning(
            "queuekit kombu worker: cannot connect to %s (%s); retrying in %.1f s",
            redact(self.queue.url or ""),
            redact(str(exc)),
            interval,
        )

    def _check_stop(self) -> None:
        if self.stop.is_set():
            raise _Stopped

    def counted(self) -> None:
        with self._count_lock:
            self.processed += 1


class _Consumer:
    """One connection's consume loop: receive, hold until due, run, acknowledge."""

    def __init__(self, worker: KombuWorker, conn: Any) -> None:
        self.worker = worker
        self.queue = worker.queue
        self.conn = conn
        self.prefetch: int = self.queue.options["prefetch"]
        self.inbox: collections.deque[Any] = collections.deque()
        self.held: list[tuple[float, int, Any, Envelope]] = []
        self._seq = itertools.count()
        self._qos = self.prefetch
        self.sock: socket.socket | None = None

    def serve(self) -> None:
        queue, conn = self.queue, self.conn
        channel = conn.channel()
        topology = queue.topology
        topology.dead(channel).declare()
        entities = [topology.work_queue(name)(channel) for name in self.worker.queues]
        for entity in entities:
            entity.declare()
        channel.basic_qos(0, self.prefetch, False)
        consumer = Consumer(
            channel, entities, no_ack=False, auto_declare=False, on_message=self.inbox.append
        )
        consumer.consume()
        heartbeat = bool(queue.options["heartbeat"])
        stop, burst = self.worker.stop, self.worker.burst
        # On a plain AMQP socket the kernel ends an idle read after POLL seconds, so the loop
        # reads in blocking mode: a timeout passed to drain_events would switch the socket's
        # mode and poll() before every read, 15 system calls per job. Synchronous calls in
        # the loop (basic_qos) and the shutdown lift the bound while they wait for an answer.
        self.sock = sock = plain_socket(conn)
        _read_timeout(sock, POLL)
        read_ahead(conn, sock)
        try:
            while not stop.is_set():
                idle = False
                try:
                    if self.held:
                        timeout = max(min(POLL, self.held[0][0] - time.time()), 0.0)
                        conn.drain_events(timeout=timeout)
                    elif sock is not None:
                        conn.drain_events()
                    else:
                        conn.drain_events(timeout=POLL)
                except TimeoutError:
                    idle = not self.inbox
                if heartbeat:
                    conn.heartbeat_check()
                while self.inbox and not stop.is_set():
                    self._handle(self.inbox.popleft(), channel)
                self._release_due(channel)
                if burst and idle and not self.held:
                    return
        finally:
            # Unacknowledged messages (prefetched, held for their eta) go back to the queue.
            if conn.connected:
                _read_timeout(sock, 0)
                consumer.cancel()
                channel.close()

    # -- messages -----------------------------------------------------------------------------

    def _handle(self, message: Any, channel: Any) -> None:
        body = _body(message)
        try:
            # With the queue's codec: an unsigned or forged envelope (secret_key set) or an
            # oversized one is refused here, before anything runs.
            envelope = Envelope.decode(body, self.queue.codec)
        except InvalidMessage:
            self._refuse(message, self.queue.process(body))
            return
        eta = envelope.options.get("eta")
        if eta is not None:
            remaining = eta - time.time()
            if remaining > TOLERANCE:
                self._wait(message, envelope, remaining, channel)
                return
        self._run(message, envelope)

    def _wait(self, message: Any, envelope: Envelope, remaining: float, channel: Any) -> None:
        """A message that is not due yet: back to the broker's delay queues, or held here."""
        queue = self.queue
        if queue.amqp:
            from ._topology import bucket_ms

            if bucket_ms(remaining) is not None:
                queue._redelay(envelope, _body(message))
                message.ack()
                return
        heapq.heappush(self.held, (envelope.options["eta"], next(self._seq), message, envelope))
        self._set_qos(channel)

    def _release_due(self, channel: Any) -> None:
        if not self.held:
            return
        while self.held and self.held[0][0] - time.time() <= TOLERANCE:
            if self.worker.stop.is_set():
                return
            _, _, message, envelope = heapq.heappop(self.held)
            self._run(message, envelope)
        self._set_qos(channel)

    def _set_qos(self, channel: Any) -> None:
        """Held messages count against the prefetch window; widen it so others still arrive."""
        wanted = self.prefetch + len(self.held)
        if wanted != self._qos:
            _read_timeout(self.sock, 0)
            channel.basic_qos(0, wanted, False)
            _read_timeout(self.sock, POLL)
            self._qos = wanted

    def _run(self, message: Any, envelope: Envelope) -> None:
        queue = self.queue
        results = queue._results
        if results is not None and not results.claim(envelope):
            logger.info("job %s (%s) was canceled; skipping it", envelope.id, envelope.job)
            key = envelope.options.get("unique_key")
            if key is not None and queue.locks is not None:
                queue.locks.release(key, envelope.id)
            message.ack()
            return
        try:
            outcome = queue.process(envelope)
        except Exception:
            # Recording the outcome or re-publishing the retry failed: leave the message to
            # the broker, so the job runs again rather than vanishing.
            logger.exception(
                "job %s (%s): could not record its outcome; it will be delivered again",
                envelope.id,
                envelope.job,
            )
            message.requeue()
            self.worker.stop.wait(0.5)
            return
        if outcome.rejected:
            self._refuse(message, outcome)
            return
        message.ack()
        self.worker.counted()

    def _refuse(self, message: Any, outcome: Outcome) -> None:
        """Set a refused message aside in the dead-letter queue; the worker goes on."""
        queue = self.queue
        if queue.amqp:
            message.reject(requeue=False)  # the queue's x-dead-letter-exchange takes it
        else:
            error = outcome.error
            reason = f"{error.type}: {error.message}" if error is not None else "refused"
            queue._publish_dead(_body(message), {REFUSED_HEADER: reason})
            message.ack()
        self.worker.counted()
