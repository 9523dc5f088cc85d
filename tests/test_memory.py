"""The in-process memory backend, threaded and immediate, and the JobResult it returns."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from queuekit.backends.memory import MemoryQueue
from queuekit.exceptions import (
    ConfigurationError,
    JobTimeout,
    QueueClosed,
    QueueError,
    ResultUnavailable,
    UnsupportedCapability,
)
from queuekit.results import ErrorInfo, JobResult, JobStatus

WAIT = 10.0  # generous: only reached when something is broken


def echo(*args: Any, **kwargs: Any) -> dict[str, Any]:
    return {"args": list(args), "kwargs": kwargs}


def fail(message: str) -> None:
    raise ValueError(message)


@pytest.fixture
def threaded() -> Iterator[MemoryQueue]:
    """A threaded memory queue with one worker, started by the test, closed afterwards."""
    queue = MemoryQueue(concurrency=1, autostart=False)
    queue.register_job("echo", echo)
    queue.register_job("fail", fail)
    yield queue
    queue.close()


@pytest.fixture
def immediate() -> Iterator[MemoryQueue]:
    """A memory queue in immediate mode."""
    queue = MemoryQueue(mode="immediate")
    queue.register_job("echo", echo)
    queue.register_job("fail", fail)
    yield queue
    queue.close()


# -- threaded mode ----------------------------------------------------------------------------


def test_concurrency_runs_jobs_in_parallel() -> None:
    """With concurrency=3, three jobs that wait for each other at a barrier all finish."""
    barrier = threading.Barrier(3, timeout=WAIT)
    names: set[str] = set()

    def meet() -> int:
        names.add(threading.current_thread().name)
        return barrier.wait()

    with MemoryQueue(concurrency=3) as queue:
        queue.register_job("meet", meet)
        ids = [queue.enqueue("meet") for _ in range(3)]
        queue.join(timeout=WAIT)
        results = [queue.get_result(i) for i in ids]
    assert [r.status for r in results] == [JobStatus.SUCCEEDED] * 3
    assert sorted(r.return_value for r in results) == [0, 1, 2]
    assert len(names) == 3 and all(n.startswith("queuekit-memory-") for n in names)


def test_join_waits_for_every_job(threaded: MemoryQueue) -> None:
    """join() returns only once every enqueued job has finished."""
    ids = [threaded.enqueue("echo", [i]) for i in range(10)]
    threaded.start()
    threaded.join(timeout=WAIT)
    assert all(threaded.get_result(i).status is JobStatus.SUCCEEDED for i in ids)
    assert threaded.count() == 0


def test_join_timeout_says_how_many_jobs_remain(threaded: MemoryQueue) -> None:
    """join(timeout=) on a queue nobody serves raises after the timeout, counting the jobs."""
    threaded.enqueue("echo")
    threaded.enqueue("echo")
    with pytest.raises(TimeoutError, match=r"2 jobs still waiting and 0 running after 0\.05 s\."):
        threaded.join(timeout=0.05)


def test_join_timeout_is_a_queue_error(threaded: MemoryQueue) -> None:
    """A join timeout can be caught as QueueError like every other queuekit error."""
    threaded.enqueue("echo")
    with pytest.raises(JobTimeout, match="start"):
        threaded.join(timeout=0.01)


def test_status_goes_from_queued_to_running_to_succeeded(threaded: MemoryQueue) -> None:
    """A job is QUEUED, then RUNNING while it runs, then SUCCEEDED with its value and times."""
    running = threading.Event()
    release = threading.Event()

    def hold() -> str:
        running.set()
        assert release.wait(WAIT)
        return "done"

    threaded.register_job("hold", hold)
    result = threaded.submit("hold")
    assert result.status is JobStatus.QUEUED and not result.finished
    threaded.start()
    assert running.wait(WAIT)
    during = result.refresh()
    assert during.status is JobStatus.RUNNING
    assert during.started_at is not None and during.finished_at is None
    release.set()
    final = result.wait(timeout=WAIT)
    assert final.status is JobStatus.SUCCEEDED and final.succeeded and final.finished
    assert final.return_value == "done"
    assert final.enqueued_at and final.started_at and final.finished_at
    assert final.enqueued_at <= final.started_at <= final.finished_at
    assert final.attempts == 1


def test_arguments_arrive_as_json_gave_them_back(threaded: MemoryQueue) -> None:
    """The job receives its own JSON copy of the arguments (a tuple becomes a list)."""
    payload = {"k": [1, 2.5, None, "ü"]}
    result = threaded.submit("echo", ("a", [1]), {"payload": payload})
    threaded.start()
    assert result.wait(timeout=WAIT).return_value == {
        "args": ["a", [1]],
        "kwargs": {"payload": payload},
    }


def test_failed_job_keeps_its_error(threaded: MemoryQueue) -> None:
    """A raising job ends FAILED with type, message and traceback in the result."""
    result = threaded.submit("fail", ["no mail server"])
    threaded.start()
    final = result.wait(timeout=WAIT)
    assert final.status is JobStatus.FAILED and final.failed
    assert final.error == ErrorInfo("ValueError", "no mail server", final.error.traceback)  # type: ignore[union-attr]
    assert final.error is not None and "in fail" in final.error.traceback


def test_delay_schedules_the_job_for_later(threaded: MemoryQueue) -> None:
    """A delayed job is SCHEDULED, counted as waiting, and starts no earlier than its delay."""
    result = threaded.submit("echo", delay=timedelta(seconds=0.3))
    assert result.status is JobStatus.SCHEDULED
    assert threaded.get_result(result.id).status is JobStatus.SCHEDULED
    assert threaded.count() == 1
    threaded.start()
    final = result.wait(timeout=WAIT)
    assert final.status is JobStatus.SUCCEEDED
    assert final.started_at is not None and final.enqueued_at is not None
    assert (final.started_at - final.enqueued_at).total_seconds() >= 0.25


def test_priority_runs_higher_first_then_fifo(threaded: MemoryQueue) -> None:
    """Waiting jobs start by priority, higher first, and in enqueue order within a priority."""
    order: list[str] = []
    threaded.register_job("mark", order.append)
    for label, priority in (("low", -1), ("mid-1", 5), ("high", 9), ("mid-2", 5), ("zero", 0)):
        threaded.enqueue("mark", [label], priority=priority)
    threaded.start()
    threaded.join(timeout=WAIT)
    assert order == ["high", "mid-1", "mid-2", "zero", "low"]


def test_named_queues_are_counted_separately_and_run(threaded: MemoryQueue) -> None:
    """queue= routes a job to a named queue, counted on its own, and the pool runs it."""
    mail = threaded.submit("echo", ["m"], queue="mail")
    threaded.enqueue("echo", ["d"])
    assert (threaded.count("mail"), threaded.count(), len(threaded)) == (1, 1, 1)
    assert threaded.count("nothing-here") == 0
    threaded.start()
    final = mail.wait(timeout=WAIT)
    assert final.queue == "mail" and final.return_value == {"args": ["m"], "kwargs": {}}
    threaded.join(timeout=WAIT)
    assert threaded.count("mail") == 0


def test_default_queue_option_changes_where_jobs_go() -> None:
    """default_queue= sets the queue of jobs enqueued without queue=."""
    with MemoryQueue(default_queue="main", autostart=False) as queue:
        queue.register_job("echo", echo)
        result = queue.submit("echo")
        assert result.queue == "main"
        assert queue.count() == 1 and queue.count("main") == 1 and queue.count("default") == 0


def test_cancel_drops_a_waiting_job(threaded: MemoryQueue) -> None:
    """A canceled job is CANCELED, never runs, and cannot be canceled twice."""
    ran: list[str] = []
    threaded.register_job("mark", ran.append)
    doomed = threaded.enqueue("mark", ["doomed"])
    threaded.enqueue("mark", ["kept"])
    assert threaded.count() == 2
    assert threaded.cancel(doomed) is True
    assert threaded.count() == 1
    assert threaded.get_result(doomed).status is JobStatus.CANCELED
    assert threaded.get_result(doomed).finished_at is not None
    threaded.start()
    threaded.join(timeout=WAIT)
    assert ran == ["kept"]
    assert threaded.cancel(doomed) is False


def test_cancel_refuses_finished_and_unknown_jobs(threaded: MemoryQueue) -> None:
    """cancel() is False for a finished job and for an id never enqueued."""
    job_id = threaded.enqueue("echo")
    threaded.start()
    threaded.join(timeout=WAIT)
    assert threaded.cancel(job_id) is False
    assert threaded.get_result(job_id).status is JobStatus.SUCCEEDED
    assert threaded.cancel("0" * 32) is False


def test_canceled_scheduled_job_never_runs(threaded: MemoryQueue) -> None:
    """A delayed job canceled before its time never runs."""
    ran: list[str] = []
    threaded.register_job("mark", ran.append)
    job_id = threaded.enqueue("mark", ["late"], delay=0.05)
    assert threaded.cancel(job_id) is True
    threaded.enqueue("mark", ["later"], delay=0.1)
    threaded.start()
    threaded.join(timeout=WAIT)
    assert ran == ["later"]


def test_canceled_job_stays_canceled_after_its_result_is_pruned() -> None:
    """A canceled job never runs, even when max_results has since dropped its result."""
    ran: list[str] = []
    with MemoryQueue(concurrency=1, autostart=False, max_results=2) as queue:
        queue.register_job("mark", ran.append)
        doomed = queue.enqueue("mark", ["doomed"])
        assert queue.cancel(doomed) is True
        queue.enqueue("mark", ["b"])
        queue.enqueue("mark", ["c"])
        queue.start()
        queue.join(timeout=WAIT)
    assert "doomed" not in ran


def test_max_results_prunes_the_oldest_finished_results() -> None:
    """Only the newest max_results finished results are kept; older ids raise with the reason."""
    with MemoryQueue(mode="immediate", max_results=3) as queue:
        queue.register_job("echo", echo)
        ids = [queue.enqueue("echo", [i]) for i in range(5)]
        for job_id in ids[2:]:
            assert queue.get_result(job_id).status is JobStatus.SUCCEEDED
        for job_id in ids[:2]:
            with pytest.raises(
                ResultUnavailable,
                match=re.escape(
                    f"No result for job {job_id!r} in this memory queue: it was never enqueued "
                    f"here, or it was pruned (max_results=3)."
                ),
            ):
                queue.get_result(job_id)


def test_max_results_never_drops_unfinished_jobs() -> None:
    """Results of jobs still waiting are kept even beyond max_results."""
    with MemoryQueue(autostart=False, max_results=2) as queue:
        queue.register_job("echo", echo)
        ids = [queue.enqueue("echo", [i]) for i in range(5)]
        assert [queue.get_result(i).status for i in ids] == [JobStatus.QUEUED] * 5


def test_unknown_result_id_raises(threaded: MemoryQueue) -> None:
    """get_result() of an id never enqueued raises ResultUnavailable naming it."""
    with pytest.raises(ResultUnavailable, match="No result for job 'nope' in this memory queue"):
        threaded.get_result("nope")


def test_close_stops_the_threads_and_refuses_new_jobs() -> None:
    """close() ends every pool thread; enqueueing afterwards raises with the fix."""
    queue = MemoryQueue(concurrency=2)
    queue.register_job("echo", echo)
    queue.enqueue("echo")
    queue.join(timeout=WAIT)
    threads = list(queue._threads)
    assert len(threads) == 2 and all(t.is_alive() for t in threads)
    queue.close()
    assert not any(t.is_alive() for t in threads)
    with pytest.raises(
        QueueClosed,
        match=re.escape("This memory queue is closed; create a new queue to send jobs."),
    ):
        queue.enqueue("echo")


def test_enqueue_on_a_closed_queue_raises_a_queue_error() -> None:
    """Enqueueing on a closed queue raises a QueueError subclass."""
    queue = MemoryQueue(mode="immediate")
    queue.register_job("echo", echo)
    queue.close()
    with pytest.raises(QueueError):
        queue.enqueue("echo")


def test_autostart_false_runs_nothing_until_start(threaded: MemoryQueue) -> None:
    """With autostart=False no thread exists and jobs wait until start()."""
    result = threaded.submit("echo")
    assert threaded._threads == []
    assert result.refresh().status is JobStatus.QUEUED
    threaded.start()
    assert result.wait(timeout=WAIT).status is JobStatus.SUCCEEDED


def test_run_worker_explains_there_is_no_separate_worker(threaded: MemoryQueue) -> None:
    """run_worker() on memory says jobs run in-process and names a backend that has a worker."""
    with pytest.raises(
        UnsupportedCapability,
        match=re.escape(
            "has no separate worker. Configure a backend with a worker process, such as 'sqlite'."
        ),
    ):
        threaded.run_worker()


# -- options --------------------------------------------------------------------------------------


def test_mode_typo_gets_a_suggestion() -> None:
    """An unknown mode names the choices and suggests the closest one."""
    with pytest.raises(
        ConfigurationError,
        match=re.escape(
            "Option 'mode' of backend 'memory' must be one of threaded, immediate; got "
            "'immediat'. Did you mean 'immediate'?"
        ),
    ):
        MemoryQueue(mode="immediat")


def test_string_options_from_config_files_are_coerced() -> None:
    """String values (as from env vars) become the option types."""
    with MemoryQueue(concurrency="2", max_results="7", autostart="false") as queue:
        assert (queue.options["concurrency"], queue.options["max_results"]) == (2, 7)
        assert queue.options["autostart"] is False


def test_none_for_an_int_option_is_refused_or_defaulted() -> None:
    """concurrency=None either raises a ConfigurationError naming it or means the default."""
    try:
        queue = MemoryQueue(concurrency=None)
    except ConfigurationError as exc:
        assert "concurrency" in str(exc)
        return
    assert queue.options["concurrency"] is not None


# -- immediate mode --------------------------------------------------------------------------------


def test_immediate_mode_returns_the_finished_result(immediate: MemoryQueue) -> None:
    """In immediate mode submit() runs the job and returns its final result."""
    result = immediate.submit("echo", [1], {"x": 2})
    assert result.status is JobStatus.SUCCEEDED
    assert result.return_value == {"args": [1], "kwargs": {"x": 2}}
    assert result.backend is immediate
    assert immediate.count() == 0


def test_immediate_mode_errors_are_visible_in_the_result(immediate: MemoryQueue) -> None:
    """In immediate mode a failing job does not raise; its result is FAILED with the error."""
    result = immediate.submit("fail", ["smtp down"])
    assert result.status is JobStatus.FAILED
    assert result.error is not None
    assert (result.error.type, result.error.message) == ("ValueError", "smtp down")
    assert "Traceback" in result.error.traceback


def test_immediate_mode_runs_in_the_calling_thread(immediate: MemoryQueue) -> None:
    """Immediate mode runs the job in the thread that enqueues and starts no pool."""
    immediate.register_job("where", lambda: threading.current_thread().name)
    assert immediate.submit("where").return_value == threading.current_thread().name
    assert immediate._threads == []


def test_immediate_mode_runs_delayed_jobs_when_waited_for(immediate: MemoryQueue) -> None:
    """A delayed job in immediate mode is SCHEDULED and runs once due, on wait() or join()."""
    result = immediate.submit("echo", ["later"], delay=0.05)
    other = immediate.submit("echo", ["joined"], delay=0.05)
    assert result.status is JobStatus.SCHEDULED
    assert result.wait(timeout=WAIT).return_value == {"args": ["later"], "kwargs": {}}
    immediate.join(timeout=WAIT)
    assert other.refresh().status is JobStatus.SUCCEEDED


@pytest.mark.parametrize(
    ("call", "capability"),
    [
        (lambda q: q.enqueue("echo", priority=1), "priority"),
        (lambda q: q.cancel("0" * 32), "cancel"),
    ],
)
def test_immediate_mode_refuses_priority_and_cancel(
    immediate: MemoryQueue, call: Any, capability: str
) -> None:
    """Immediate mode declares no priority and no cancel, and refuses them by name."""
    with pytest.raises(
        UnsupportedCapability, match=f"Backend 'memory' does not support {capability}"
    ):
        call(immediate)
    assert immediate.capabilities()[capability] is False
    assert MemoryQueue(autostart=False).capabilities()[capability] is True


# -- JobResult -------------------------------------------------------------------------------------


def test_wait_times_out_with_the_status_and_the_fix(threaded: MemoryQueue) -> None:
    """wait() on a job nobody runs raises JobTimeout naming job, status, queue and the fix."""
    result = threaded.submit("echo", queue="mail")
    with pytest.raises(
        JobTimeout,
        match=re.escape(
            f"Job {result.id} ('echo') is still queued after 0.05 s; is a worker running for "
            f"queue 'mail'? Pass a larger timeout= to wait longer."
        ),
    ):
        result.wait(timeout=0.05)


def test_unbound_result_cannot_refresh_or_wait() -> None:
    """A JobResult without a queue says to use queue.get_result()."""
    result = JobResult(id="abc", job_name="echo", status=JobStatus.QUEUED)
    for action in (result.refresh, result.wait):
        with pytest.raises(
            ValueError,
            match=re.escape("JobResult 'abc' is not bound to a queue; use queue.get_result()."),
        ):
            action()


def test_with_backend_binds_a_result(immediate: MemoryQueue) -> None:
    """with_backend() returns a copy bound to the given queue that can refresh."""
    job_id = immediate.enqueue("echo")
    unbound = JobResult(id=job_id, job_name="echo", status=JobStatus.QUEUED)
    assert unbound.with_backend(immediate).refresh().status is JobStatus.SUCCEEDED
    assert unbound.backend is None


def test_job_status_finished_and_str() -> None:
    """Only SUCCEEDED, FAILED and CANCELED are finished; str() gives the plain value."""
    assert {s for s in JobStatus if s.finished} == {
        JobStatus.SUCCEEDED,
        JobStatus.FAILED,
        JobStatus.CANCELED,
    }
    assert str(JobStatus.RUNNING) == "running"
    assert f"{JobStatus.SCHEDULED}" == "scheduled"


def test_error_info_round_trips_through_a_dict() -> None:
    """ErrorInfo.to_dict and from_dict are inverse; a missing traceback becomes empty."""
    info = ErrorInfo("ValueError", "bad", "Traceback ...")
    assert ErrorInfo.from_dict(info.to_dict()) == info
    assert ErrorInfo.from_dict({"type": "E", "message": "m"}).traceback == ""
