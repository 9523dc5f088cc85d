"""Job state on Redis for queuekit-kombu: queuekit's RedisResultStore, plus the two writes that
sit on hot paths: 'queued' at enqueue (overlapped with the broker's publisher confirm) and the
worker's claim (mark running unless canceled, one round trip)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from queuekit.envelope import Envelope
from queuekit.redis_stores import RedisResultStore

# Mark a job running unless it was canceled; 1 = run it, 0 = canceled, skip it.
_CLAIM = """
local current = redis.call('get', KEYS[1])
if current then
  local ok, data = pcall(cjson.decode, current)
  if ok and type(data) == 'table' and data['status'] == 'canceled' then return 0 end
end
redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""

# Cancel a job still waiting: 1 = canceled, 0 = too late (running or finished), -1 = unknown.
_CANCEL = """
local current = redis.call('get', KEYS[1])
if not current then return -1 end
local data = cjson.decode(current)
if data['status'] ~= 'queued' and data['status'] ~= 'scheduled' then return 0 end
data['status'] = 'canceled'
data['finished_at'] = tonumber(ARGV[1])
redis.call('set', KEYS[1], cjson.encode(data), 'KEEPTTL')
return 1
"""


class KombuResults(RedisResultStore):
    """A RedisResultStore that can write 'queued' while the broker confirms, claim and cancel."""

    def __init__(self, client: Any, prefix: str, ttl: float) -> None:
        super().__init__(client, prefix=prefix, ttl=ttl)
        self._claim = client.register_script(_CLAIM)
        self._cancel = client.register_script(_CANCEL)
        self._ex = str(max(int(ttl), 1)).encode()

    def _waiting_record(self, envelope: Envelope) -> bytes:
        status = "scheduled" if "eta" in envelope.options else "queued"
        return json.dumps(
            {
                "id": envelope.id,
                "job_name": envelope.job,
                "status": status,
                "queue": envelope.queue,
                "enqueued_at": envelope.enqueued_at,
                "attempts": envelope.attempt - 1,
            },
            separators=(",", ":"),
        ).encode()

    def begin_sent(self, envelopes: Sequence[Envelope]) -> Any:
        """Write the waiting state of ``envelopes`` without waiting for Redis to answer.

        A first attempt uses SET NX, so a worker that already recorded a later state (it can be
        faster than this reply) is never overwritten; a retry overwrites the previous outcome.
        Returns a handle for :meth:`finish_sent`.
        """
        connection = self.client.connection_pool.get_connection()
        try:
            commands = []
            for envelope in envelopes:
                args: list[Any] = [
                    "SET",
                    self.prefix + envelope.id,
                    self._waiting_record(envelope),
                    "EX",
                    self._ex,
                ]
                if envelope.attempt == 1:
                    args.append("NX")
                commands.append(args)
            connection.send_packed_command(connection.pack_commands(commands))
        except BaseException:
            connection.disconnect()
            self.client.connection_pool.release(connection)
            raise
        return connection, len(commands)

    def finish_sent(self, handle: Any, envelopes: Sequence[Envelope], sent: bool) -> None:
        """Read the replies of :meth:`begin_sent`; if the messages were not sent, forget them."""
        connection, count = handle
        try:
            for _ in range(count):
                connection.read_response()
        except BaseException:
            connection.disconnect()
            raise
        finally:
            self.client.connection_pool.release(connection)
        if not sent:
            self.client.delete(*(self.prefix + e.id for e in envelopes))

    def claim(self, envelope: Envelope) -> bool:
        """Mark the job running; False if it was canceled while it waited."""
        record = json.dumps(
            {
                "id": envelope.id,
                "job_name": envelope.job,
                "status": "running",
                "queue": envelope.queue,
                "enqueued_at": envelope.enqueued_at,
                "started_at": time.time(),
                "attempts": envelope.attempt,
            },
            separators=(",", ":"),
        )
        return bool(self._claim(keys=[self.prefix + envelope.id], args=[record, self._ex]))

    def cancel(self, job_id: str, now: float) -> int:
        return int(self._cancel(keys=[self.prefix + job_id], args=[repr(now)]))
