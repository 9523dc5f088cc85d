"""KombuQueue: queuekit envelopes published with kombu, consumed by queuekit's own kombu worker."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, NamedTuple

from kombu.exceptions import KombuError

from queuekit.base import BaseQueue
from queuekit.envelope import Envelope
from queuekit.exceptions import ConfigurationError, QueueClosed, QueueError
from queuekit.options import Option
from queuekit.redact import redact
from queuekit.results import JobResult
from queuekit.runtime import Outcome

from ._deadletter import DeadLetterStore
from ._kombu import Connection, Producer
from ._sockets import plain_socket, read_ahead
from ._topology import DEAD_ROUTING_KEY, DELAY_HEADER, Topology, bucket_ms
from .confirms import ConfirmTracker, coalesced_writes

logger = logging.getLogger("queuekit.kombu")

DEFAULT_URL = "amqp://guest:guest@localhost:5672//"
CONTENT_TYPE = "application/json"


class BrokerUnavailable(QueueError, ConnectionError):
    """The broker could not be reached, or did not confirm a message, within the bounded retries."""


class _Item(NamedTuple):
    """One message ready to publish."""

    body: bytes
    exchange: Any
    routing_key: str
    headers: dict[str, Any] | None
    priority: int
    declare: tuple[Any, ...]


class KombuQueue(BaseQueue):
    """Jobs as persistent JSON messages on a kombu broker; RabbitMQ first, Redis supported."""

    backend_name: ClassVar[str] = "kombu"

    supports_delay: ClassVar[bool] = True  # RabbitMQ: TTL bucket queues dead-letter back; else held
    supports_priority: ClassVar[bool] = True  # x-max-priority on RabbitMQ, 4 steps on Redis
    supports_results: ClassVar[bool] = True  # only with result_url: a Redis result store
    supports_retries: ClassVar[bool] = True  # the runtime re-publishes the job with a delay
    supports_timeout: ClassVar[bool] = True  # the runtime: SIGALRM stops the main consumer's job
    supports_named_queues: ClassVar[bool] = True  # one durable queue per name on one exchange
    supports_bulk: ClassVar[bool] = True  # AMQP: publish all, then wait once; Redis: one pipeline
    supports_cancel: ClassVar[bool] = True  # only with result_url: the worker skips canceled jobs
    supports_unique: ClassVar[bool] = True  # only with result_url: RedisLocks
    supports_failed_store: ClassVar[bool] = True  # Redis with result_url, else the dead letters
    delivery: ClassVar[str] = "at-least-once"  # type: ignore[assignment]  # ack after the job ends

    capability_notes: ClassVar[dict[str, str]] = {
        "delay": "native on RabbitMQ: per-bucket TTL queues dead-letter back to the work queue "
        "(power-of-two buckets from 32 ms; never early, late by a few ms per hop); shorter "
        "waits, and every wait on other transports, are held unacknowledged by the worker",
        "priority": "native on RabbitMQ (x-max-priority, values clamped to 0..max_priority); "
        "approximate on Redis (kombu's 4 steps); absent on memory://",
        "results": "a Redis result store when result_url is set; absent otherwise",
        "retries": "emulated by the worker runtime (re-published with a delay)",
        "timeout": "emulated by the runtime: stopped by SIGALRM in the main consumer, "
        "abandoned in the other consumer threads",
        "bulk": "native: RabbitMQ publishes the batch and then waits for every confirm; Redis "
        "uses kombu's pipelined batch; absent on memory://",
        "cancel": "emulated with result_url: the job's state flips to canceled; the worker "
        "acknowledges it without running it",
        "unique": "Redis locks (RedisLocks) with result_url; absent otherwise",
        "failed_store": "Redis (RedisFailedStore) with result_url; otherwise the dead-letter "
        "queue <prefix>.dead, read by get-and-requeue",
        "delivery": "at-least-once: acknowledged only after the job finished, was retried or "
        "kept as failed; a worker that dies leaves its messages to be redelivered "
        "(at-most-once on memory://, which dies with the process). On redis:// kombu pops a "
        "message before recording it as unacknowledged: a worker killed in that instant loses "
        "that one message (seen: 1 in 200 jobs with 5 SIGKILLs, in 2 of 4 runs)",
    }

    options_schema: ClassVar[dict[str, Option]] = {
        "namespace": Option(str, "queuekit", "names of the exchanges and queues start with this"),
        "result_url": Option(
            str,
            None,
            "Redis URL for results, failed jobs and locks; without it results are absent and "
            "the dead-letter queue keeps failed jobs",
        ),
        "result_ttl": Option(float, 7 * 24 * 3600.0, "seconds a job's state is kept in Redis"),
        "prefetch": Option(int, 4, "messages each consumer holds unacknowledged, running one"),
        "max_priority": Option(
            int, 9, "x-max-priority of the work queues (RabbitMQ, 1..255); 0: no priorities"
        ),
        "confirm_publish": Option(
            bool, True, "AMQP publisher confirms: enqueue returns once the broker has the message"
        ),
        "connect_timeout": Option(float, 5.0, "seconds to wait for a connection to the broker"),
        "publish_retries": Option(
            int, 2, "reconnect-and-retry rounds for a publish before enqueue raises"
        ),
        "confirm_timeout": Option(float, 10.0, "seconds to wait for the broker's confirms"),
        "heartbeat": Option(float, 0.0, "AMQP heartbeat of worker connections, seconds; 0: off"),
        "reconnect_max": Option(float, 8.0, "longest pause between a worker's reconnect attempts"),
        "visibility_timeout": Option(
            float,
            None,
            "redis:// only: seconds before a message a dead worker held is delivered again "
            "(kombu's default 3600); keep it above the longest job and delay",
        ),
    }

    def __init__(self, options: dict[str, Any] | None = None, /, **kwargs: Any) -> None:
        super().__init__(options, **kwargs)
        if self.url is None:
            self.url = self.options["url"] = DEFAULT_URL
        url: str = self.url
        prefix: str = self.options["namespace"]
        if not prefix or any(c.isspace() for c in prefix):
            raise ConfigurationError(
                f"Option 'namespace' of backend 'kombu' is {prefix!r}; use a name."
            )
        if not 0 <= self.options["max_priority"] <= 255:
            raise ConfigurationError(
                f"Option 'max_priority' of backend 'kombu' must be 0..255 (RabbitMQ's range; 0 "
                f"turns priorities off), got {self.options['max_priority']}."
            )
        if self.options["prefetch"] < 1:
            raise ConfigurationError("Option 'prefetch' of backend 'kombu' must be at least 1.")
        self.retry_policy = {
            "max_retries": self.options["publish_retries"],
            "interval_start": 0.0,
            "interval_step": 0.25,
            "interval_max": 1.0,
        }
        try:
            probe = Connection(url)
            self.driver: str = probe.transport.driver_type
        except Exception as exc:
            raise ConfigurationError(
                f"kombu cannot use the URL {redact(url)!r}: {redact(str(exc))}. Use amqp://, "
                f"redis:// or memory://, e.g. amqp://guest:guest@localhost:5672//."
            ) from None
        self.amqp = self.driver == "amqp"
        self._confirming = self.amqp and bool(self.options["confirm_publish"])
        transport_options: dict[str, Any] = dict(self.retry_policy)
        transport: Any = None
        if self.amqp:
            transport_options["confirm_publish"] = self.options["confirm_publish"]
        elif self.driver == "redis":
            transport_options["socket_connect_timeout"] = self.options["connect_timeout"]
            if self.options["visibility_timeout"]:
                # A SIGKILLed worker's unacknowledged messages come back only after this long.
                transport_options["visibility_timeout"] = self.options["visibility_timeout"]
            from kombu.transport import redis as kombu_redis

            from . import redis_transport

            if url.startswith("redis://") and type(probe.transport) is kombu_redis.Transport:
                transport = redis_transport.Transport  # kombu's, with one client object per pool
        self._template = Connection(
            url,
            connect_timeout=self.options["connect_timeout"],
            transport_options=transport_options,
            transport=transport,
        )
        max_priority: int = self.options["max_priority"]
        self.topology = Topology(prefix, max_priority, self.amqp)
        if (not self.amqp and self.driver != "redis") or (self.amqp and not max_priority):
            self.supports_priority = False  # type: ignore[misc]
        if self.driver == "memory":
            self.supports_bulk = False  # type: ignore[misc]
            self.delivery = "at-most-once"  # type: ignore[misc]
        self._lock = threading.RLock()
        self._conn: Any = None
        self._producer: Any = None
        self._confirms: ConfirmTracker | None = None
        #: Messages published on the confirms' channel (the last one's delivery tag).
        self._published = 0
        self._declared_on: Any = None
        self._declared: set[str] = set()
        self._closed = False
        self._results: Any = None
        self._redis: Any = None
        result_url: str | None = self.options["result_url"]
        if result_url:
            self._open_result_store(result_url)
        else:
            self.supports_results = False  # type: ignore[misc]
            self.supports_cancel = False  # type: ignore[misc]
            self.supports_unique = False  # type: ignore[misc]
            self.failed_store = DeadLetterStore(self)

    def _open_result_store(self, result_url: str) -> None:
        import redis

        from queuekit.redis_stores import RedisFailedStore, RedisLocks

        from ._results import KombuResults

        timeout = self.options["connect_timeout"]
        try:
            client = redis.Redis.from_url(
                result_url, socket_connect_timeout=timeout, socket_timeout=max(timeout, 5.0)
            )
        except ValueError as exc:
            raise ConfigurationError(
                f"Option 'result_url' of backend 'kombu' is not a Redis URL: "
                f"{redact(result_url)!r} ({redact(str(exc))})."
            ) from None
        self._redis = client
        key_prefix = f"queuekit:kombu:{self.topology.prefix}"
        self._results = KombuResults(client, key_prefix, self.options["result_ttl"])
        self.failed_store = RedisFailedStore(client, prefix=key_prefix)
        self.locks = RedisLocks(client, prefix=key_prefix)

    # -- connections --------------------------------------------------------------------------

    def connection(self, **overrides: Any) -> Any:
        """A new, not yet connected kombu Connection to this queue's broker."""
        return self._template.clone(**overrides)

    def _broker_error(self, exc: BaseException, doing: str) -> BrokerUnavailable:
        return BrokerUnavailable(
            f"Could not {doing} on the broker at {redact(self.url or '')} "
            f"(after {self.options['publish_retries']} retries): {type(exc).__name__}: "
            f"{redact(str(exc))}. Is the broker running and reachable? Raise "
            f"connect_timeout/publish_retries to wait longer."
        )

    def _errors(self) -> tuple[type[BaseException], ...]:
        conn = self._template
        return (
            *conn.connection_errors,
            *conn.channel_errors,
            KombuError,
            OSError,
            TimeoutError,
        )

    def _get_producer(self) -> Any:
        if self._closed:
            raise QueueClosed("This kombu queue is closed; create a new queue to send jobs.")
        if self._producer is None:
            overrides: dict[str, Any] = {}
            if self.amqp:
                # The kernel bounds every read and write of the producer's socket
                # (SO_RCVTIMEO/SO_SNDTIMEO): a per-publish timeout would switch the socket's
                # mode twice per read and write, a dozen system calls per confirmed enqueue.
                bound = self.options["confirm_timeout"]
                overrides["transport_options"] = {
                    **self._template.transport_options,
                    "read_timeout": bound,
                    "write_timeout": bound,
                }
            self._conn = self.connection(**overrides)
            self._producer = Producer(self._conn, auto_declare=False)
        return self._producer

    def _reset(self) -> None:
        """Drop the producer connection after an error; the next publish opens a new one."""
        conn, self._conn, self._producer, self._confirms = self._conn, None, None, None
        self._declared_on, self._declared = None, set()
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.collect()

    @contextlib.contextmanager
    def _admin_channel(self, doing: str = "reach the dead-letter queue") -> Iterator[Any]:
        """A channel on a connection of its own, for rare operations (dead letters, counts)."""
        conn = self.connection()
        try:
            conn.ensure_connection(**self.retry_policy)
            channel = conn.channel()
            try:
                yield channel
            finally:
                with contextlib.suppress(Exception):
                    channel.close()
        except self._errors() as exc:
            raise self._broker_error(exc, doing) from exc
        finally:
            conn.release()

    # -- producer side ------------------------------------------------------------------------

    def _wire_priority(self, priority: int) -> int:
        if self.amqp:
            return max(0, min(priority, self.topology.max_priority))
        if self.driver == "redis":  # kombu's Redis transport serves lower numbers first
            return 9 - max(0, min(priority, 9))
        return 0

    def _item(self, envelope: Envelope, body: bytes | None = None) -> _Item:
        topology = self.topology
        work = topology.work_queue(envelope.queue)
        exchange, headers = topology.exchange, None
        declare: tuple[Any, ...] = (work, topology.dead)
        eta = envelope.options.get("eta")
        if eta is not None and self.amqp:
            ms = bucket_ms(eta - time.time())
            if ms is not None:
                delay = topology.delay_queue(ms)
                exchange, headers, declare = (
                    topology.delay_exchange,
                    {DELAY_HEADER: str(ms)},
                    (*declare, delay),
                )
        return _Item(
            body if body is not None else envelope.encode(),
            exchange,
            envelope.queue,
            headers,
            self._wire_priority(envelope.options.get("priority", 0)),
            declare,
        )

    def _send(self, envelope: Envelope) -> None:
        self._deliver([envelope])

    def _send_many(self, envelopes: list[Envelope]) -> None:
        self._deliver(envelopes)

    def _deliver(self, envelopes: Sequence[Envelope]) -> None:
        items = [self._item(envelope) for envelope in envelopes]
        results = self._results
        try:
            handle = results.begin_sent(envelopes) if results is not None else None
        except Exception as exc:  # the result store's Redis is down: a typed error, not redis'
            raise BrokerUnavailable(
                f"Could not record {len(envelopes)} job(s) as queued in the result store at "
                f"{redact(self.options['result_url'] or '')}: {type(exc).__name__}: "
                f"{redact(str(exc))}. Nothing was sent; is that Redis running and reachable?"
            ) from exc
        sent = False
        try:
            self._publish(items)
            sent = True
        finally:
            if handle is not None:
                try:
                    results.finish_sent(handle, envelopes, sent)
                except Exception:
                    if not sent:
                        raise
                    logger.exception(
                        "could not record jobs %s as queued", [e.id for e in envelopes]
                    )

    def _publish(self, items: Sequence[_Item]) -> None:
        """Publish ``items``, retrying on a fresh connection; return once the broker has them."""
        with self._lock:
            producer = self._get_producer()
            fun = self._publish_amqp if self.amqp else self._publish_each
            try:
                self._conn.ensure(producer, fun, **self.retry_policy)(producer, items)
            except self._errors() as exc:
                self._reset()
                raise self._broker_error(exc, f"publish {len(items)} message(s)") from exc

    def _publish_one(self, producer: Any, item: _Item) -> None:
        confirms = self._confirms_for(producer.channel) if self._confirming else None
        self._declare(producer, item.declare)
        exchange, routing_key = item.exchange, item.routing_key
        if not self.amqp:
            # Virtual transports put an anonymous-exchange message straight into the queue it
            # names. Routing through the exchange would need kombu's binding keys, which a
            # restarted Redis has forgotten: such messages would be dropped without an error.
            exchange, routing_key = "", item.declare[0].name
        producer.publish(
            item.body,
            exchange=exchange,
            routing_key=routing_key,
            headers=item.headers,
            priority=item.priority,
            content_type=CONTENT_TYPE,
            content_encoding="utf-8",
            delivery_mode=2,
        )
        if confirms is not None:
            self._published += 1

    def _publish_each(self, producer: Any, items: Sequence[_Item]) -> None:
        if len(items) > 1 and getattr(producer, "supports_batch_publish", False):
            with producer.batch():
                for item in items:
                    self._publish_one(producer, item)
        else:
            for item in items:
                self._publish_one(producer, item)

    def _declare(self, producer: Any, entities: Sequence[Any]) -> None:
        """Declare each entity once per channel (kombu's maybe_declare copies the entity on
        every call, which costs more than the publish itself)."""
        channel = producer.channel
        if channel is not self._declared_on:
            self._declared_on, self._declared = channel, set()
        for entity in entities:
            if entity.name not in self._declared:
                producer.maybe_declare(entity)
                self._declared.add(entity.name)

    def _confirms_for(self, channel: Any) -> ConfirmTracker:
        if self._confirms is None or self._confirms.channel is not channel:
            if self._confirms is not None:
                self._confirms.close()
            self._confirms, self._published = ConfirmTracker(channel), 0
            # A confirm is a 21-byte frame py-amqp reads in three reads; one does.
            read_ahead(self._conn, plain_socket(self._conn))
        return self._confirms

    def _publish_amqp(self, producer: Any, items: Sequence[_Item]) -> None:
        """Write every message as one basic.publish, then (with confirms) wait for all their
        confirms at once: one wait for a single enqueue, one for a whole batch.

        With confirms, the first message on a new channel goes through kombu's confirmed
        publish, which puts the channel in confirm mode, and the rest skip py-amqp's publish
        wrapper: it polls the socket for a connection.blocked notice before every message (two
        mode switches and a read), and the wait for the confirm reads that notice anyway.
        Without confirms nothing else reads the producer's socket, so py-amqp's own publish
        (with that poll, which also surfaces a channel error) writes each message.
        """
        channel = producer.channel
        for item in items:  # synchronous requests first: the writes below may be coalesced
            self._declare(producer, item.declare)
        prepare, properties = channel.prepare_message, {"delivery_mode": 2}
        if not self._confirming:
            publish = channel.basic_publish
            for item in items:
                message = prepare(
                    item.body, item.priority, CONTENT_TYPE, "utf-8", item.headers, properties
                )
                publish(message, item.exchange.name, item.routing_key)
            return
        confirms = self._confirms_for(channel)
        if not self._published:  # kombu's confirmed publish puts the channel in confirm mode
            self._publish_one(producer, items[0])
            items = items[1:]
            if not items:
                return
        first, publish = self._published + 1, confirms.publish
        with coalesced_writes(self._conn.connection, len(items) > 1):
            for item in items:
                message = prepare(
                    item.body, item.priority, CONTENT_TYPE, "utf-8", item.headers, properties
                )
                publish(message, item.exchange.name, item.routing_key)
                self._published += 1
        last = self._published
        # No timeout per read: the producer's socket has one (SO_RCVTIMEO, see _get_producer).
        confirms.wait(first, last, self.options["confirm_timeout"], bounded_reads=True)
        refused = confirms.refused(first, last)
        if refused:
            raise BrokerUnavailable(f"the broker refused (nacked) {refused} messages")

    def _publish_dead(self, body: bytes, headers: dict[str, Any]) -> None:
        """Put ``body`` in the dead-letter queue (failed-job records, refusals off RabbitMQ)."""
        dead = self.topology.dead
        self._publish(
            [_Item(body, self.topology.dlx, DEAD_ROUTING_KEY, headers, 0, (dead,))],
        )

    def _redelay(self, envelope: Envelope, body: bytes) -> None:
        """Send a message that came back before its eta on to its next delay bucket."""
        self._publish([self._item(envelope, body)])

    # -- state --------------------------------------------------------------------------------

    def _get_result(self, job_id: str) -> JobResult:
        result: JobResult = self._results.get(job_id, self)
        return result

    def _record(self, outcome: Outcome) -> None:
        if self._results is None or outcome.retry_in is not None:
            return  # a retry's state is written when it is re-published
        self._results.record(outcome)

    def _cancel(self, job_id: str) -> bool:
        return bool(self._results.cancel(job_id, time.time()) == 1)

    def count(self, queue: str | None = None) -> int:
        """Messages ready in the broker's queue (delayed and unacknowledged ones not counted)."""
        name = queue or self.default_queue
        with self._admin_channel(f"count the jobs in queue {name!r}") as channel:
            try:
                _, count, _ = self.topology.work_queue(name)(channel).queue_declare(passive=True)
            except tuple(self._template.channel_errors):
                return 0  # never declared: nothing was ever sent to it
        return int(count)

    # -- worker -------------------------------------------------------------------------------

    def run_worker(
        self,
        *,
        queues: Sequence[str] | None = None,
        concurrency: int | None = None,
        burst: bool = False,
    ) -> None:
        """Consume ``queues`` until SIGTERM/SIGINT (or, with ``burst``, until none is due)."""
        from ._worker import KombuWorker

        KombuWorker(self, list(queues or [self.default_queue]), concurrency or 1, burst).run()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._reset()
        if self._redis is not None:
            with contextlib.suppress(Exception):
                self._redis.close()
