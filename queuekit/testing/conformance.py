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
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ClassVar

import pytest

from .. import events
from ..base import BaseQueue, call
from ..envelope import Envelope
from ..exceptions import InvalidArguments, ResultUnavailable, UnknownJob, UnsupportedCapability
from ..results import JobResult, JobStatus
from .jobs import PREFIX, collector

ECHO, ADD, FAIL, TOUCH, STAMP = (PREFIX + n for n in ("echo", "add", "fail", "touch", "stamp"))


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
        (priority order is checked by start order).
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
        before = time.time()
        queue.enqueue(STAMP, [str(path), "late"], delay=1.0)
        queue.enqueue(STAMP, [str(path), "now"])
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
