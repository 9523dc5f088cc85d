"""Enqueue when a SQLAlchemy ``Session`` commits, never when it rolls back.

::

    from queuekit.sqlalchemy import enqueue_on_commit

    with Session(engine) as session, session.begin():
        session.add(order)
        enqueue_on_commit(session, send_confirmation, order.id)   # validated now, sent at commit

The call is validated at once (registered job, JSON arguments, options), so mistakes raise
where they are made; the job is handed to the backend only after the outermost transaction has
committed. Savepoints: a job enqueued inside ``begin_nested()`` is dropped when that savepoint
rolls back, and kept (sent at the outer commit) when it is released; an outer rollback, or
``close()`` without commit, drops every pending job. A job enqueued while no transaction is
open waits for the session's next commit.

This is after-commit delivery: a broker that is down right after the commit loses the job
(the error is logged and raised from ``commit()``, whose data is already committed). When that
must not happen, write the job into the database instead: :mod:`queuekit.outbox`.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from .base import BaseQueue
from .envelope import Envelope
from .jobs import Job, get_job_queue

logger = logging.getLogger("queuekit.sqlalchemy")

_PENDING = "queuekit_pending"
_COMMITTED = "queuekit_committed"
_INSTALLED = "queuekit_installed"

Pending = list[tuple[SessionTransaction | None, BaseQueue, Envelope]]


def enqueue_on_commit(session: Any, job: Job[Any, Any] | str, *args: Any, **kwargs: Any) -> str:
    """Send ``job(*args, **kwargs)`` once ``session`` commits; returns the job id it will have.

    ``job`` is a :class:`~queuekit.Job` (its ``using(...)`` options and queue apply) or a job
    name on the app's queue. ``session`` is a ``Session`` or an ``AsyncSession``.
    """
    sync: Session = getattr(session, "sync_session", session)
    if isinstance(job, Job):
        queue = job._queue if job._queue is not None else get_job_queue()
        envelope = queue.build_envelope(job.name, args, kwargs, job._call_options)
    else:
        queue = get_job_queue()
        envelope = queue.build_envelope(job, args, kwargs)
    _install(sync)
    transaction = sync.get_nested_transaction() or sync.get_transaction()
    pending: Pending = sync.info.setdefault(_PENDING, [])
    pending.append((transaction, queue, envelope))
    return envelope.id


def pending_jobs(session: Any) -> list[Envelope]:
    """The envelopes waiting for ``session`` to commit (for tests and debugging)."""
    sync: Session = getattr(session, "sync_session", session)
    return [envelope for _, _, envelope in sync.info.get(_PENDING, [])]


def _install(session: Session) -> None:
    if session.info.get(_INSTALLED):
        return
    event.listen(session, "after_commit", _after_commit)
    event.listen(session, "after_transaction_end", _after_transaction_end)
    session.info[_INSTALLED] = True


def _after_commit(session: Session) -> None:
    # after_commit fires for released savepoints too; the transaction that committed is the
    # next one to end, so remember the commit until then.
    session.info[_COMMITTED] = True


def _within(transaction: SessionTransaction | None, ended: SessionTransaction) -> bool:
    """True when ``transaction`` is ``ended`` or nested inside it."""
    while transaction is not None:
        if transaction is ended:
            return True
        transaction = transaction.parent
    return False


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    committed = session.info.pop(_COMMITTED, False)
    pending: Pending = session.info.get(_PENDING, [])
    if not pending:
        return
    if transaction.parent is not None:  # a savepoint
        if not committed:
            session.info[_PENDING] = [p for p in pending if not _within(p[0], transaction)]
        return
    session.info[_PENDING] = []
    if committed:
        _send(pending)
    else:
        logger.debug("session rolled back: dropped %d pending jobs", len(pending))


def _send(pending: Pending) -> None:
    """Hand each queue its envelopes in one batch; try every queue, then raise the first error."""
    batches: dict[int, tuple[BaseQueue, list[Envelope]]] = {}
    for _, queue, envelope in pending:
        batches.setdefault(id(queue), (queue, []))[1].append(envelope)
    first: Exception | None = None
    for queue, envelopes in batches.values():
        try:
            queue._dispatch(envelopes)
        except Exception as exc:
            logger.error(
                "the transaction committed, but %d jobs (%s) could not be sent to backend %r: "
                "%s; they are lost (use queuekit.outbox where a job must survive an outage)",
                len(envelopes),
                ", ".join(f"{e.job} {e.id}" for e in envelopes),
                queue.backend_name,
                exc,
            )
            first = first or exc
    if first is not None:
        raise first


__all__ = ["enqueue_on_commit", "pending_jobs"]
