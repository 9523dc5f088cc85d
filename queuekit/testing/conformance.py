"""The public conformance suite: every backend, first- or third-party, subclasses it once.

    class TestMyQueue(QueueConformance):
        def make_queue(self):
            return MyQueue(url=...)

        @contextmanager
        def worker(self, queue):
            ...  # run a worker for the jobs enqueued so far and any enqueued inside the block
            yield

Tests of a capability the backend does not declare are skipped, and replaced by a test that
asking for it raises. Jobs come from :mod:`queuekit.testing.jobs`, so a worker in another
process loads them with ``--app queuekit.testing.jobs:collector``.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ClassVar

import pytest

from .. import events
from ..base import BaseQueue, RegisteredJob, call
from ..envelope import Envelope
from ..exceptions import InvalidArguments, ResultUnavailable, UnknownJob, UnsupportedCapability
from ..policies import Backoff
from ..results import JobResult, JobStatus
from ..signing import Codec, Signer
from .jobs import PREFIX, collector

ECHO, ADD, FAIL, TOUCH, STAMP = (PREFIX + n for n in ("echo", "add", "fail", "touch", "stamp"))
FLAKY, PICKY, ASKS_RETRY, INTROSPECT, ONCE, SLOW = (
    PREFIX + n for n in ("flaky", "picky", "asks_retry", "introspect", "once", "slow")
)


def stamps(path: Path) -> list[float]:
    """The start times a stamping job wrote to ``path``, in order."""
    return [float(line.split()[1]) for line in path.read_text(encoding="utf-8").splitlines()]


def gaps(path: Path) -> list[float]:
    times = stamps(path)
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def wait_for_lines(path: Path, count: int, timeout: float) -> list[str]:
    """Poll ``path`` until it holds ``count`` lines (or ``timeout`` passes); return its lines."""
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while time.monotonic() < deadline:
        if path.exists():
            lines = path.read_text(encoding="utf-8").splitlines()
            if len(lines) >= count:
                return lines
        time.sleep(0.02)
    return lines


class QueueConformance:
    """Behaviour every backend must show; see the module docstring for how to subclass."""

    #: Seconds a test waits for a job before it fails.
    wait_timeout: ClassVar[float] = 20.0
    #: False for a backend that runs each job inside enqueue, so nothing ever waits.
    jobs_wait_for_worker: ClassVar[bool] = True

    def make_queue(self) -> BaseQueue:
        """A fresh, empty queue of the backend under test."""
        raise NotImplementedError

    @contextlib.contextmanager
    def worker(self, queue: BaseQueue) -> Iterator[None]:
        """Run a worker (thread or process) that serves ``queue`` for the block's duration.

        It must serve the default queue and the queue named ``other``, one job at a time
        (priority order is checked by start order), and stop gracefully when the block ends
        (the job in hand finishes and is recorded: some tests look at the queue afterwards).
        """
        raise NotImplementedError
        yield

    def inject_raw(self, queue: BaseQueue, data: bytes) -> None:
        """Put raw bytes where the worker reads messages; backends that can, override this."""
        pytest.skip(f"{type(self).__name__} cannot write raw messages to its engine")

    # -- fixtures ---------------------------------------------------------------------------

    @pytest.fixture
    def queue(self) -> Iterator[BaseQueue]:
        queue = self.make_queue()
        collector.register_jobs(queue)
        try:
            yield queue
        finally:
            queue.close()

    def need(self, queue: BaseQueue, capability: str) -> None:
        if not getattr(queue, f"supports_{capability}"):
            pytest.skip(f"{queue.backend_name} does not declare {capability}")

    def refuse(self, queue: BaseQueue, capability: str) -> None:
        if getattr(queue, f"supports_{capability}"):
            pytest.skip(f"{queue.backend_name} declares {capability}")

    def wait(self, queue: BaseQueue, job_id: str) -> JobResult:
        return queue.get_result(job_id).with_backend(queue).wait(timeout=self.wait_timeout)

    # -- enqueue ----------------------------------------------------------------------------

    def test_enqueue_returns_distinct_string_ids(self, queue: BaseQueue, tmp_path: Path) -> None:
        """Each enqueue returns a new non-empty str id."""
        ids = {queue.enqueue(TOUCH, [str(tmp_path / "f")]) for _ in range(5)}
        assert len(ids) == 5 and all(isinstance(i, str) and i for i in ids)

    def test_job_runs_once(self, queue: BaseQueue, tmp_path: Path) -> None:
        """An enqueued job runs exactly once on the worker."""
        path = tmp_path / "ran"
        queue.enqueue(TOUCH, [str(path), "once"])
        with self.worker(queue):
            lines = wait_for_lines(path, 1, self.wait_timeout)
            time.sleep(0.2)
            lines = path.read_text(encoding="utf-8").splitlines()
        assert lines == ["once"]

    def test_unknown_job_is_refused_at_enqueue(self, queue: BaseQueue) -> None:
        """Enqueueing a name no job is registered under raises UnknownJob with a suggestion."""
        with pytest.raises(
            UnknownJob,
            match=r"No job named 'queuekit\.conformance\.ech'.*"
            r"Did you mean 'queuekit\.conformance\.echo'",
        ):
            queue.enqueue(PREFIX + "ech")

    def test_non_json_argument_is_refused_naming_its_path(self, queue: BaseQueue) -> None:
        """A datetime inside kwargs is refused at enqueue, naming kwargs['when']."""
        with pytest.raises(InvalidArguments, match=r"kwargs\['when'\] is a datetime"):
            queue.enqueue(ECHO, kwargs={"when": datetime.now(timezone.utc)})

    def test_enqueued_event_is_emitted(self, queue: BaseQueue, tmp_path: Path) -> None:
        """Subscribers see an 'enqueued' event with the job id and name."""
        seen: list[events.Event] = []
        unsubscribe = events.subscribe(seen.append)
        try:
            job_id = queue.enqueue(TOUCH, [str(tmp_path / "f")])
        finally:
            unsubscribe()
        enqueued = [(e.job_id, e.job_name) for e in seen if e.kind == "enqueued"]
        assert enqueued == [(job_id, TOUCH)]

    # -- results ----------------------------------------------------------------------------

    def test_result_holds_return_value_and_json_round_trip(self, queue: BaseQueue) -> None:
        """The worker gets the arguments as sent and the result holds the return value."""
        self.need(queue, "results")
        payload = {"nested": [1, 2.5, None, True, "ü"], "empty": {}}
        job_id = queue.enqueue(ECHO, [1, "two", [3]], {"payload": payload})
        with self.worker(queue):
            result = self.wait(queue, job_id)
        assert result.status is JobStatus.SUCCEEDED
        assert result.return_value == {"args": [1, "two", [3]], "kwargs": {"payload": payload}}
        assert result.job_name == ECHO and result.id == job_id and result.queue == "default"
        assert result.attempts == 1
        assert result.enqueued_at and result.started_at and result.finished_at
        assert result.enqueued_at <= result.started_at <= result.finished_at

    def test_failure_keeps_error_type_message_and_traceback(self, queue: BaseQueue) -> None:
        """A raising job is FAILED with its exception type, message and traceback."""
        self.need(queue, "results")
        job_id = queue.enqueue(FAIL, ["it broke"])
        with self.worker(queue):
            result = self.wait(queue, job_id)
        assert result.status is JobStatus.FAILED
        assert result.error is not None
        assert (result.error.type, result.error.message) == ("RuntimeError", "it broke")
        assert "in fail" in result.error.traceback

    def test_unserializable_return_value_fails_the_job(self, queue: BaseQueue) -> None:
        """A job returning a non-JSON value is FAILED, naming the return value."""
        self.need(queue, "results")
        job_id = queue.enqueue(PREFIX + "unserializable")
        with self.worker(queue):
            result = self.wait(queue, job_id)
        assert result.status is JobStatus.FAILED
        assert result.error is not None and "the return value" in result.error.message

    def test_unknown_result_id_raises(self, queue: BaseQueue) -> None:
        """get_result() of an id never enqueued raises ResultUnavailable."""
        self.need(queue, "results")
        with pytest.raises(ResultUnavailable):
            queue.get_result("0" * 32)

    def test_results_absent_raise(self, queue: BaseQueue) -> None:
        """A backend without results refuses get_result() naming the capability."""
        self.refuse(queue, "results")
        with pytest.raises(UnsupportedCapability, match="results"):
            queue.get_result("0" * 32)

    # -- the worker refuses what it must not run ---------------------------------------------

    def test_unregistered_job_in_message_is_set_aside(
        self, queue: BaseQueue, tmp_path: Path
    ) -> None:
        """A message naming an unregistered job is refused and the worker keeps going."""
        bad = Envelope(job="os.system", args=["echo pwned"])
        queue._send(bad)  # bypasses enqueue's checks, as a hand-written message would
        path = tmp_path / "after"
        queue.enqueue(TOUCH, [str(path), "after"])
        with self.worker(queue):
            assert wait_for_lines(path, 1, self.wait_timeout) == ["after"]
            if queue.supports_results:
                result = self.wait(queue, bad.id)
                assert result.status is JobStatus.FAILED
                assert result.error is not None and result.error.type == "UnknownJob"

    def test_malformed_messages_are_set_aside(self, queue: BaseQueue, tmp_path: Path) -> None:
        """Garbage, wrong-version and wrong-shape messages never stop the worker."""
        for data in (b"\xff\xfe not json", b"[1, 2]", b'{"v": 99, "id": "x"}', b'{"v": 1}'):
            self.inject_raw(queue, data)
        path = tmp_path / "after"
        queue.enqueue(TOUCH, [str(path), "after"])
        with self.worker(queue):
            assert wait_for_lines(path, 1, self.wait_timeout) == ["after"]

    # -- capabilities -----------------------------------------------------------------------

    def test_delay_holds_the_job_back(self, queue: BaseQueue, tmp_path: Path) -> None:
        """A job with delay=1 starts no earlier than one second after enqueue."""
        self.need(queue, "delay")
        path = tmp_path / "stamps"
        queue.enqueue(STAMP, [str(path), "now"])
        before = time.time()
        queue.enqueue(STAMP, [str(path), "late"], delay=1.0)
        with self.worker(queue):
            lines = wait_for_lines(path, 2, self.wait_timeout)
        stamps = dict(line.split() for line in lines)
        assert float(stamps["late"]) >= before + 1.0 - 0.05
        assert float(stamps["now"]) < float(stamps["late"])

    def test_eta_accepts_aware_datetimes_only(self, queue: BaseQueue, tmp_path: Path) -> None:
        """eta= takes an aware datetime; a naive one is refused with the fix."""
        self.need(queue, "delay")
        path = tmp_path / "f"
        with pytest.raises(InvalidArguments, match="naive datetime"):
            queue.enqueue(TOUCH, [str(path)], eta=datetime.now())
        queue.enqueue(
            TOUCH, [str(path), "eta"], eta=datetime.now(timezone.utc) + timedelta(seconds=0.1)
        )
        with self.worker(queue):
            assert wait_for_lines(path, 1, self.wait_timeout) == ["eta"]

    def test_delay_absent_raises(self, queue: BaseQueue) -> None:
        """A backend without delay refuses delay= naming itself and the capability."""
        self.refuse(queue, "delay")
        with pytest.raises(UnsupportedCapability, match=f"{queue.backend_name!r}.*delay"):
            queue.enqueue(ADD, [1, 2], delay=5)

    def test_priority_runs_higher_first(self, queue: BaseQueue, tmp_path: Path) -> None:
        """Jobs waiting together start in priority order, higher integers first."""
        self.need(queue, "priority")
        path = tmp_path / "order"
        for label, priority in (("low", 0), ("high", 9), ("mid", 5)):
            queue.enqueue(STAMP, [str(path), label], priority=priority)
        with self.worker(queue):
            lines = wait_for_lines(path, 3, self.wait_timeout)
        assert [line.split()[0] for line in lines] == ["high", "mid", "low"]

    def test_priority_absent_raises(self, queue: BaseQueue) -> None:
        """A backend without priority refuses priority=."""
        self.refuse(queue, "priority")
        with pytest.raises(UnsupportedCapability, match="priority"):
            queue.enqueue(ADD, [1, 2], priority=5)

    def test_named_queue_routes_the_job(self, queue: BaseQueue, tmp_path: Path) -> None:
        """queue='other' puts the job on that queue and a worker serving it runs it."""
        self.need(queue, "named_queues")
        path = tmp_path / "other"
        job_id = queue.enqueue(TOUCH, [str(path), "other"], queue="other")
        with self.worker(queue):
            assert wait_for_lines(path, 1, self.wait_timeout) == ["other"]
        if queue.supports_results:
            assert self.wait(queue, job_id).queue == "other"

    def test_named_queues_absent_raise(self, queue: BaseQueue) -> None:
        """A backend without named queues refuses queue='other'."""
        self.refuse(queue, "named_queues")
        with pytest.raises(UnsupportedCapability, match="named queues"):
            queue.enqueue(ADD, [1, 2], queue="other")

    def test_enqueue_many_runs_every_call(self, queue: BaseQueue, tmp_path: Path) -> None:
        """enqueue_many returns one id per call and every call runs once."""
        path = tmp_path / "many"
        ids = queue.enqueue_many(TOUCH, [[str(path), str(i)] for i in range(20)])
        assert len(set(ids)) == 20
        with self.worker(queue):
            lines = wait_for_lines(path, 20, self.wait_timeout)
            time.sleep(0.2)
            lines = path.read_text(encoding="utf-8").splitlines()
        assert sorted(lines, key=int) == [str(i) for i in range(20)]

    def test_enqueue_many_is_all_or_nothing(self, queue: BaseQueue, tmp_path: Path) -> None:
        """One bad call in a batch refuses the whole batch, naming its index."""
        calls = [call(str(tmp_path / "f")), call(str(tmp_path / "f"), text={1, 2})]
        with pytest.raises(InvalidArguments, match=r"calls\[1\].*kwargs\['text'\] is a set"):
            queue.enqueue_many(TOUCH, calls)
        if type(queue).count is not BaseQueue.count:
            assert queue.count() == 0

    def test_bulk_is_one_batch(self, queue: BaseQueue) -> None:
        """A backend declaring bulk overrides _send_many rather than looping over _send."""
        self.need(queue, "bulk")
        assert type(queue)._send_many is not BaseQueue._send_many

    def test_cancel_stops_a_waiting_job(self, queue: BaseQueue, tmp_path: Path) -> None:
        """A canceled job never runs, and a finished one cannot be canceled."""
        self.need(queue, "cancel")
        path = tmp_path / "canceled"
        job_id = queue.enqueue(TOUCH, [str(path), "canceled"])
        marker = tmp_path / "marker"
        queue.enqueue(TOUCH, [str(marker), "done"])
        assert queue.cancel(job_id) is True
        with self.worker(queue):
            assert wait_for_lines(marker, 1, self.wait_timeout) == ["done"]
            time.sleep(0.2)
        assert not path.exists()
        if queue.supports_results:
            assert queue.get_result(job_id).status is JobStatus.CANCELED
        assert queue.cancel(job_id) is False

    def test_cancel_absent_raises(self, queue: BaseQueue) -> None:
        """A backend without cancel refuses cancel()."""
        self.refuse(queue, "cancel")
        with pytest.raises(UnsupportedCapability, match="cancel"):
            queue.cancel("0" * 32)

    def test_retries_absent_raise(self, queue: BaseQueue) -> None:
        """A backend without retries refuses retries=."""
        self.refuse(queue, "retries")
        with pytest.raises(UnsupportedCapability, match="retries"):
            queue.enqueue(ADD, [1, 2], retries=3)

    def test_timeout_absent_raises(self, queue: BaseQueue) -> None:
        """A backend without timeouts refuses timeout=."""
        self.refuse(queue, "timeout")
        with pytest.raises(UnsupportedCapability, match="timeout"):
            queue.enqueue(ADD, [1, 2], timeout=3)

    def test_len_counts_waiting_jobs(self, queue: BaseQueue, tmp_path: Path) -> None:
        """len(queue) counts the jobs waiting in the default queue and drops to 0 once run."""
        if type(queue).count is BaseQueue.count:
            pytest.skip(f"{queue.backend_name} cannot count waiting jobs")
        path = tmp_path / "len"
        queue.enqueue_many(TOUCH, [[str(path)]] * 3)
        assert len(queue) == (3 if self.jobs_wait_for_worker else 0)
        with self.worker(queue):
            wait_for_lines(path, 3, self.wait_timeout)
            deadline = time.monotonic() + self.wait_timeout
            while len(queue) and time.monotonic() < deadline:
                time.sleep(0.02)
        assert len(queue) == 0

    def test_capabilities_table_lists_every_flag(self, queue: BaseQueue) -> None:
        """capabilities() reports each flag as a bool and the delivery guarantee."""
        row = queue.capabilities()
        assert row["delivery"] in ("at-least-once", "at-most-once")
        assert all(isinstance(v, bool) for k, v in row.items() if k != "delivery")

    def test_repr_hides_url_password(self, queue: BaseQueue) -> None:
        """The queue's repr never shows a password."""
        assert "secret-password" not in repr(queue)
        extra: dict[str, Any] = {"url": "scheme://user:secret-password@host/0"}
        try:
            other = type(queue)({**queue.options, **extra})
        except Exception:  # the backend cannot take such a URL; the live queue was checked
            return
        try:
            assert "secret-password" not in repr(other) and "***" in repr(other)
        finally:
            other.close()

    # -- policies: retries ----------------------------------------------------------------------

    def finish(self, queue: BaseQueue, job_id: str) -> JobResult:
        """Run a worker until job ``job_id`` has finished; return its final state."""
        with self.worker(queue):
            return self.wait(queue, job_id)

    def test_retries_run_a_failing_job_until_it_succeeds(
        self, queue: BaseQueue, tmp_path: Path
    ) -> None:
        """A job failing twice with retries=3 runs exactly 3 times, backoff seconds apart."""
        self.need(queue, "retries")
        self.need(queue, "results")
        path = tmp_path / "runs"
        job_id = queue.enqueue(FLAKY, [str(path), 2], backoff=0.4)
        result = self.finish(queue, job_id)
        assert (result.status, result.return_value, result.attempts) == (JobStatus.SUCCEEDED, 3, 3)
        assert len(stamps(path)) == 3
        assert all(gap >= 0.4 - 0.05 for gap in gaps(path)), gaps(path)

    def test_exponential_backoff_doubles_the_wait(self, queue: BaseQueue, tmp_path: Path) -> None:
        """Backoff(base=0.3, factor=2) waits about 0.3 s, then about 0.6 s."""
        self.need(queue, "retries")
        path = tmp_path / "runs"
        backoff = Backoff(base=0.3, factor=2.0, cap=10.0, jitter=0.0)
        queue.enqueue(FLAKY, [str(path), 2], backoff=backoff)
        with self.worker(queue):
            wait_for_lines(path, 3, self.wait_timeout)
        first, second = gaps(path)
        assert first >= 0.3 - 0.05 and second >= 0.6 - 0.05, (first, second)
        assert second > first

    def test_exhausted_retries_fail_for_good_into_the_failed_store(
        self, queue: BaseQueue, tmp_path: Path
    ) -> None:
        """With retries=1 per call, a job failing twice is FAILED after 2 runs and kept."""
        self.need(queue, "retries")
        self.need(queue, "results")
        path = tmp_path / "runs"
        job_id = queue.enqueue(FLAKY, [str(path), 5], retries=1)
        result = self.finish(queue, job_id)
        assert (result.status, result.attempts) == (JobStatus.FAILED, 2)
        assert result.error is not None and result.error.message == "flaky failure 2 of 5"
        assert len(stamps(path)) == 2
        if queue.supports_failed_store:
            record = queue.failed.get(job_id)
            assert (record.reason, record.attempts, record.job_name) == ("exhausted", 2, FLAKY)
            assert "in flaky" in record.error.traceback

    def test_discard_on_runs_once_and_keeps_the_traceback(
        self, queue: BaseQueue, tmp_path: Path
    ) -> None:
        """An exception in discard_on is not retried: one run, FAILED, kept as discarded."""
        self.need(queue, "retries")
        self.need(queue, "results")
        path = tmp_path / "runs"
        job_id = queue.enqueue(PICKY, [str(path), "permission"])
        result = self.finish(queue, job_id)
        assert result.status is JobStatus.FAILED and len(stamps(path)) == 1
        assert result.error is not None and result.error.type == "PermissionError"
        if queue.supports_failed_store:
            record = queue.failed.get(job_id)
            assert record.reason == "discarded" and "in picky" in record.error.traceback

    def test_exception_outside_retry_on_is_not_retried(
        self, queue: BaseQueue, tmp_path: Path
    ) -> None:
        """A KeyError when retry_on=(OSError,) fails at once despite retries=3."""
        self.need(queue, "retries")
        self.need(queue, "results")
        path = tmp_path / "runs"
        result = self.finish(queue, queue.enqueue(PICKY, [str(path), "key"]))
        assert result.status is JobStatus.FAILED and len(stamps(path)) == 1
        assert result.error is not None and result.error.type == "KeyError"

    def test_job_can_ask_for_a_retry(self, queue: BaseQueue, tmp_path: Path) -> None:
        """Raising Retry(delay=0.4) runs the job again no sooner than 0.4 s later."""
        self.need(queue, "retries")
        path = tmp_path / "runs"
        queue.enqueue(ASKS_RETRY, [str(path), 0.4])
        with self.worker(queue):
            assert len(wait_for_lines(path, 2, self.wait_timeout)) == 2
        assert gaps(path)[0] >= 0.4 - 0.05

    def test_job_sees_its_attempt_and_id(self, queue: BaseQueue) -> None:
        """A takes_context job receives its id and attempt; current_job() returns the same."""
        self.need(queue, "results")
        job_id = queue.enqueue(INTROSPECT, ["hello"])
        result = self.finish(queue, job_id)
        assert result.return_value == {
            "label": "hello",
            "job_id": job_id,
            "attempt": 1,
            "same": True,
        }

    def test_retries_absent_refuse_retry_policies(self, queue: BaseQueue) -> None:
        """A backend without retries refuses backoff= too."""
        self.refuse(queue, "retries")
        with pytest.raises(UnsupportedCapability, match="retries"):
            queue.enqueue(ADD, [1, 2], backoff=1.0)

    # -- policies: timeouts ---------------------------------------------------------------------

    def test_timeout_fails_the_job_and_retries_it(self, queue: BaseQueue) -> None:
        """A 5 s job with timeout=0.5 and retries=1 fails with TimeLimitExceeded after 2 tries."""
        self.need(queue, "timeout")
        self.need(queue, "retries")
        self.need(queue, "results")
        job_id = queue.enqueue(SLOW, [5])
        result = self.finish(queue, job_id)
        assert (result.status, result.attempts) == (JobStatus.FAILED, 2)
        assert result.error is not None and "TimeLimitExceeded" in result.error.type
        assert "timeout of 0.5 s" in result.error.message
        assert result.finished_at and result.enqueued_at
        assert (result.finished_at - result.enqueued_at).total_seconds() < 8

    # -- the failed-job store ---------------------------------------------------------------

    def test_failed_job_is_kept_and_can_be_retried(self, queue: BaseQueue, tmp_path: Path) -> None:
        """A job that failed for good is listed; retry() runs it again under the same id."""
        self.need(queue, "failed_store")
        self.need(queue, "results")
        path = tmp_path / "runs"
        job_id = (
            queue.enqueue(FLAKY, [str(path), 1], retries=0)
            if queue.supports_retries
            else (queue.enqueue(FAIL, ["first try"]))
        )
        first = self.finish(queue, job_id)
        assert first.status is JobStatus.FAILED
        listed = queue.failed.list()
        assert [r.id for r in listed] == [job_id]
        assert listed[0].envelope is not None and listed[0].envelope["id"] == job_id
        assert listed[0].error.type == "RuntimeError" and listed[0].error.traceback
        assert queue.failed.retry(job_id) == job_id
        assert queue.failed.list() == []
        with self.worker(queue):
            # The second attempt's outcome, not a read of the first one racing the resend.
            deadline = time.monotonic() + self.wait_timeout
            again = self.wait(queue, job_id)
            while again.attempts < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
                again = self.wait(queue, job_id)
        assert again.attempts == 2
        if queue.supports_retries:
            assert (again.status, again.return_value) == (JobStatus.SUCCEEDED, 2)

    def test_refused_message_lands_in_the_failed_store(self, queue: BaseQueue) -> None:
        """A message naming an unregistered job is kept with reason 'rejected'."""
        self.need(queue, "failed_store")
        bad = Envelope(job="not.registered")
        queue._send(bad)
        with self.worker(queue):
            deadline = time.monotonic() + self.wait_timeout
            while time.monotonic() < deadline and not queue.failed.list():
                time.sleep(0.05)
        record = queue.failed.get(bad.id)
        assert record.reason == "rejected" and record.error.type == "UnknownJob"
        assert record.job_name == "not.registered"

    def test_failed_store_purge_empties_it(self, queue: BaseQueue) -> None:
        """purge() removes every record and returns how many."""
        self.need(queue, "failed_store")
        self.need(queue, "results")
        ids = [queue.enqueue(FAIL, [str(i)]) for i in range(3)]
        with self.worker(queue):
            for job_id in ids:
                self.wait(queue, job_id)
            deadline = time.monotonic() + self.wait_timeout
            while len(queue.failed.list()) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
        assert queue.failed.purge() == 3
        assert queue.failed.list() == []

    def test_failed_store_absent_raises(self, queue: BaseQueue) -> None:
        """A backend without a failed store refuses queue.failed."""
        self.refuse(queue, "failed_store")
        with pytest.raises(UnsupportedCapability, match="failed store"):
            queue.failed.list()

    # -- uniqueness -------------------------------------------------------------------------

    def test_unique_job_is_not_queued_twice_while_pending(
        self, queue: BaseQueue, tmp_path: Path
    ) -> None:
        """A second enqueue of a pending unique job returns the first id; once done, it queues."""
        self.need(queue, "unique")
        if not self.jobs_wait_for_worker:
            pytest.skip("jobs run inside enqueue, so none is ever pending")
        path = tmp_path / "once"
        first = queue.enqueue(ONCE, [str(path), "a"])
        assert queue.enqueue(ONCE, [str(path), "a"]) == first
        other = queue.enqueue(ONCE, [str(path), "b"])
        assert other != first
        with self.worker(queue):
            wait_for_lines(path, 2, self.wait_timeout)
            if queue.supports_results:
                self.wait(queue, first)
                self.wait(queue, other)
            else:
                time.sleep(0.5)
        assert sorted(path.read_text(encoding="utf-8").splitlines()) == ["a", "b"]
        assert queue.enqueue(ONCE, [str(path), "a"]) != first

    def test_unique_absent_refuses_registration(self, queue: BaseQueue) -> None:
        """A backend without uniqueness refuses a unique job when it is registered."""
        self.refuse(queue, "unique")
        with pytest.raises(UnsupportedCapability, match="unique"):
            queue.register_job("unique.job", len, unique=True)

    def test_registered_job_keeps_its_policy(self, queue: BaseQueue) -> None:
        """Per-job policies stay with the registration; portable defaults go to envelopes."""
        self.need(queue, "retries")
        spec: RegisteredJob = queue.jobs[PICKY]
        assert spec.policy.retries == 3 and spec.policy.discard_on == (PermissionError,)
        assert spec.options == {"retries": 3, "backoff": 0.0}

    # -- signing ----------------------------------------------------------------------------

    def test_signed_envelopes_run_and_others_are_refused(
        self, queue: BaseQueue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With secret_key set, envelopes signed with any accepted key run; unsigned or
        wrongly signed ones are refused (into the failed store where there is one)."""
        monkeypatch.setenv("QUEUEKIT_SECRET_KEY", "new-key,old-key")  # read by CLI workers
        signed = type(queue)({**queue.options, "secret_key": "new-key,old-key"})
        collector.register_jobs(signed)
        path = tmp_path / "signed"
        try:
            signed.enqueue(TOUCH, [str(path), "new"])
            old = Envelope(job=TOUCH, args=[str(path), "old"], codec=Codec(Signer(["old-key"])))
            unsigned = Envelope(job=TOUCH, args=[str(path), "unsigned"])
            forged = Envelope(job=TOUCH, args=[str(path), "forged"], codec=Codec(Signer(["x"])))
            for envelope in (old, unsigned, forged):
                signed._send(envelope)
            signed.enqueue(TOUCH, [str(path), "last"])
            with self.worker(signed):
                lines = wait_for_lines(path, 3, self.wait_timeout)
                time.sleep(0.3)
                lines = path.read_text(encoding="utf-8").splitlines()
                if signed.supports_failed_store:
                    deadline = time.monotonic() + self.wait_timeout
                    while len(signed.failed.list()) < 2 and time.monotonic() < deadline:
                        time.sleep(0.05)
            assert sorted(lines) == ["last", "new", "old"]
            if signed.supports_failed_store:
                records = {r.id: r for r in signed.failed.list()}
                assert "not signed" in records[unsigned.id].error.message
                assert "matches none of the accepted keys" in records[forged.id].error.message
                assert {records[unsigned.id].reason, records[forged.id].reason} == {"rejected"}
        finally:
            signed.close()
