"""queuekit.testing.fake: the recording queue application tests use instead of a broker."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

import pytest

from queuekit import get_job_queue, has_job_queue, job, jobs
from queuekit.backends.memory import MemoryQueue
from queuekit.exceptions import (
    InvalidArguments,
    NoQueueConfigured,
    ResultUnavailable,
    UnknownJob,
)
from queuekit.results import JobStatus
from queuekit.testing.fake import FakeQueue, fake_queue


def send_mail(to: str, subject: str = "") -> str:
    return f"sent {subject} to {to}"


def broken() -> None:
    raise RuntimeError("smtp down")


@pytest.fixture
def fake() -> FakeQueue:
    """A FakeQueue with 'mail.send' and 'broken' registered."""
    queue = FakeQueue()
    queue.register_job("mail.send", send_mail)
    queue.register_job("broken", broken)
    return queue


# -- recording ------------------------------------------------------------------------------------


def test_enqueue_records_without_running(fake: FakeQueue) -> None:
    """Enqueued jobs are recorded as pending and in history, and nothing runs."""
    job_id = fake.enqueue("mail.send", ["a@b"], {"subject": "hi"})
    assert [e.id for e in fake.pending] == [job_id]
    assert [e.id for e in fake.history] == [job_id]
    assert fake.get_result(job_id).status is JobStatus.QUEUED
    assert len(fake) == 1


def test_recorded_envelopes_went_through_the_wire_format(fake: FakeQueue) -> None:
    """The recorded arguments are what JSON gives back (a tuple arrives as a list)."""
    fake.enqueue("mail.send", ("a@b",), {"subject": "hi"})
    (envelope,) = fake.enqueued("mail.send")
    assert envelope.args == ["a@b"] and type(envelope.args) is list
    assert envelope.kwargs == {"subject": "hi"}


def test_enqueued_filters_by_name(fake: FakeQueue) -> None:
    """enqueued(name) lists only that job's envelopes, enqueued() lists all."""
    fake.enqueue("mail.send", ["a"])
    fake.enqueue("broken")
    fake.enqueue("mail.send", ["b"])
    assert [e.args for e in fake.enqueued("mail.send")] == [["a"], ["b"]]
    assert [e.job for e in fake.enqueued()] == ["mail.send", "broken", "mail.send"]


def test_non_json_argument_fails_exactly_as_in_production(fake: FakeQueue) -> None:
    """A non-JSON argument raises the same InvalidArguments message in the fake as on memory."""
    production = MemoryQueue(mode="immediate")
    production.register_job("mail.send", send_mail)
    when = datetime(2024, 5, 6, tzinfo=timezone.utc)
    with pytest.raises(InvalidArguments) as in_production:
        production.enqueue("mail.send", ["a@b"], {"subject": when})
    with pytest.raises(InvalidArguments) as in_fake:
        fake.enqueue("mail.send", ["a@b"], {"subject": when})
    assert str(in_fake.value) == str(in_production.value)
    assert "kwargs['subject'] is a datetime (pass value.isoformat()" in str(in_fake.value)
    assert fake.history == []


def test_unknown_job_and_unknown_option_fail_as_in_production(fake: FakeQueue) -> None:
    """Misspelt job names and options are refused by the fake with the production message."""
    with pytest.raises(UnknownJob, match=r"No job named 'mail\.sned'.*Did you mean 'mail\.send'"):
        fake.enqueue("mail.sned")
    with pytest.raises(
        InvalidArguments, match=r"Unknown enqueue option 'prority'.*Did you mean 'priority'"
    ):
        fake.enqueue("mail.send", ["a"], prority=1)


# -- assert_enqueued -------------------------------------------------------------------------------


def test_assert_enqueued_matches_name_args_kwargs_and_returns_matches(fake: FakeQueue) -> None:
    """assert_enqueued returns the matching envelopes; args may be a tuple or list."""
    fake.enqueue("mail.send", ["a@b"], {"subject": "hi"})
    fake.enqueue("mail.send", ["c@d"])
    assert len(fake.assert_enqueued("mail.send")) == 2
    (match,) = fake.assert_enqueued("mail.send", args=("a@b",))
    assert match.kwargs == {"subject": "hi"}
    assert len(fake.assert_enqueued("mail.send", kwargs={})) == 1
    assert len(fake.assert_enqueued("mail.send", ["a@b"], {"subject": "hi"}, count=1)) == 1


def test_assert_enqueued_matches_options(fake: FakeQueue) -> None:
    """Options like queue, priority and retries must match what was enqueued."""
    fake.enqueue("mail.send", ["a"], queue="mail", priority=5, retries=2, timeout=30)
    fake.assert_enqueued("mail.send", queue="mail", priority=5, retries=2, timeout=30)
    with pytest.raises(
        AssertionError, match=re.escape("Job 'mail.send' priority=1 was not enqueued.")
    ):
        fake.assert_enqueued("mail.send", priority=1)
    with pytest.raises(
        AssertionError, match=re.escape("Job 'mail.send' queue='default' was not enqueued.")
    ):
        fake.assert_enqueued("mail.send", queue="default")


def test_assert_enqueued_failure_lists_what_was_enqueued(fake: FakeQueue) -> None:
    """A failed assertion names the wanted call and lists every recorded call."""
    fake.enqueue("mail.send", ["a@b"], {"subject": "hi"})
    fake.enqueue("broken")
    with pytest.raises(
        AssertionError,
        match=re.escape(
            "Job 'mail.send' args=['x@y'] kwargs={} was not enqueued. Enqueued: "
            "mail.send(args=['a@b'], kwargs={'subject': 'hi'}); broken(args=[], kwargs={})"
        ),
    ):
        fake.assert_enqueued("mail.send", args=["x@y"], kwargs={})


def test_assert_enqueued_on_an_empty_fake_says_nothing_was_enqueued(fake: FakeQueue) -> None:
    """With nothing recorded the failure says 'Enqueued: nothing'."""
    with pytest.raises(
        AssertionError, match=re.escape("Job 'mail.send' was not enqueued. Enqueued: nothing")
    ):
        fake.assert_enqueued("mail.send")


def test_assert_enqueued_count_mismatch_says_how_many(fake: FakeQueue) -> None:
    """count= that does not match says how many times the job was enqueued and expected."""
    fake.enqueue("mail.send", ["a"])
    fake.enqueue("mail.send", ["a"])
    fake.assert_enqueued("mail.send", ["a"], count=2)
    with pytest.raises(
        AssertionError,
        match=re.escape(
            "Job 'mail.send' args=['a'] was enqueued 2 times, expected 1. Enqueued: mail.send"
        ),
    ):
        fake.assert_enqueued("mail.send", ["a"], count=1)


def test_assert_enqueued_count_zero_and_assert_not_enqueued(fake: FakeQueue) -> None:
    """count=0 and assert_not_enqueued pass for absent jobs and fail for present ones."""
    fake.assert_enqueued("broken", count=0)
    fake.assert_not_enqueued("broken")
    fake.enqueue("broken")
    with pytest.raises(
        AssertionError, match=re.escape("Job 'broken' was enqueued 1 times, expected 0.")
    ):
        fake.assert_not_enqueued("broken")


def test_assert_enqueued_matches_a_delay(fake: FakeQueue) -> None:
    """A job enqueued with delay=60 is found by assert_enqueued(delay=60)."""
    fake.enqueue("mail.send", ["a"], delay=60)
    fake.assert_enqueued("mail.send", delay=60)


# -- running ---------------------------------------------------------------------------------------


def test_run_all_runs_in_priority_order_and_returns_results(fake: FakeQueue) -> None:
    """run_all runs pending jobs highest priority first and returns their results."""
    fake.enqueue("mail.send", ["low"], priority=1)
    fake.enqueue("mail.send", ["high"], priority=9)
    fake.enqueue("mail.send", ["none"])
    results = fake.run_all()
    assert [r.return_value for r in results] == ["sent  to high", "sent  to low", "sent  to none"]
    assert all(r.status is JobStatus.SUCCEEDED for r in results)
    assert fake.pending == [] and len(fake.history) == 3
    assert fake.get_result(results[0].id).return_value == "sent  to high"


def test_run_all_reports_failures_without_raising(fake: FakeQueue) -> None:
    """A failing job in run_all gives a FAILED result with the error, and the rest still run."""
    fake.enqueue("broken")
    fake.enqueue("mail.send", ["a"])
    failed, ok = fake.run_all()
    assert failed.status is JobStatus.FAILED
    assert failed.error is not None and (failed.error.type, failed.error.message) == (
        "RuntimeError",
        "smtp down",
    )
    assert ok.status is JobStatus.SUCCEEDED


def test_run_all_runs_jobs_enqueued_by_jobs(fake: FakeQueue) -> None:
    """Jobs enqueued while run_all runs are run in the same call."""

    def fan_out(n: int) -> int:
        for i in range(n):
            fake.enqueue("mail.send", [f"r{i}"])
        return n

    fake.register_job("fan_out", fan_out)
    fake.enqueue("fan_out", [2])
    results = fake.run_all()
    assert [r.job_name for r in results] == ["fan_out", "mail.send", "mail.send"]
    assert fake.run_all() == []


def test_cancel_drops_a_pending_job(fake: FakeQueue) -> None:
    """cancel() removes a pending job, marks it CANCELED and run_all skips it."""
    doomed = fake.enqueue("mail.send", ["doomed"])
    fake.enqueue("mail.send", ["kept"])
    assert fake.cancel(doomed) is True
    assert fake.get_result(doomed).status is JobStatus.CANCELED
    assert [r.return_value for r in fake.run_all()] == ["sent  to kept"]
    assert fake.cancel(doomed) is False


def test_count_per_named_queue(fake: FakeQueue) -> None:
    """count(queue) counts pending jobs of that queue only."""
    fake.enqueue("mail.send", ["a"], queue="mail")
    fake.enqueue("mail.send", ["b"])
    assert (fake.count("mail"), fake.count(), fake.count("other")) == (1, 1, 0)


def test_clear_forgets_everything(fake: FakeQueue) -> None:
    """clear() empties pending, history and results."""
    job_id = fake.enqueue("mail.send", ["a"])
    fake.clear()
    assert fake.pending == [] and fake.history == []
    with pytest.raises(
        ResultUnavailable, match=re.escape(f"No job {job_id!r} was recorded by this fake queue.")
    ):
        fake.get_result(job_id)
    with pytest.raises(AssertionError, match="Enqueued: nothing"):
        fake.assert_enqueued("mail.send")


# -- fake_queue() ----------------------------------------------------------------------------------


def test_fake_queue_installs_and_restores_the_process_queue() -> None:
    """fake_queue() is the process queue inside the block, with every collected job; none after."""
    collector = jobs.JobCollector()
    collector.register_job("mail.send", send_mail)
    assert not has_job_queue()
    with fake_queue(collector=collector) as fake:
        assert get_job_queue() is fake
        assert set(fake.jobs) == {"mail.send"}
        get_job_queue().enqueue("mail.send", ["a@b"])
        fake.assert_enqueued("mail.send", ["a@b"])
    assert not has_job_queue()
    with pytest.raises(NoQueueConfigured):
        get_job_queue()


def test_fake_queue_restores_a_previous_queue() -> None:
    """After the block the queue configured before it is back."""
    real = jobs.JobCollector().register_app(
        {"QUEUEKIT_BACKEND": "memory", "QUEUEKIT_MODE": "immediate"}
    )
    assert get_job_queue() is real
    with fake_queue(collector=jobs.JobCollector()) as fake:
        assert get_job_queue() is fake
    assert get_job_queue() is real


def test_fake_queue_for_an_app_serves_that_app() -> None:
    """fake_queue(app) is the queue of that app, and is bound to it for running jobs."""

    class App:
        config: dict[str, Any] = {}

    app = App()
    with fake_queue(app, collector=jobs.JobCollector()) as fake:
        assert get_job_queue(app) is fake
        assert fake.app is app


def test_jobs_enqueued_through_job_objects_land_in_the_fake(collector: jobs.JobCollector) -> None:
    """@job functions enqueued inside fake_queue() are recorded and run by the fake."""

    @job("mail.welcome")
    def welcome(user: str) -> str:
        return f"welcome {user}"

    with fake_queue(collector=collector) as fake:
        result = welcome.enqueue("ann")
        assert result.status is JobStatus.QUEUED
        fake.assert_enqueued("mail.welcome", ["ann"], count=1)
        (done,) = fake.run_all()
    assert done.return_value == "welcome ann"


def test_non_json_argument_through_a_job_object_fails_in_the_fake(
    collector: jobs.JobCollector,
) -> None:
    """A @job called with a non-JSON argument fails at enqueue inside fake_queue(), naming it."""

    @job("mail.raw")
    def raw(data: Any) -> None:
        return None

    with fake_queue(collector=collector) as fake:
        with pytest.raises(
            InvalidArguments, match=re.escape("args[0] is bytes (encode them, e.g. base64")
        ):
            raw.enqueue(b"\x00")
        assert fake.history == []


def test_fake_queue_default_collector_follows_the_global_collector(
    collector: jobs.JobCollector,
) -> None:
    """fake_queue() without collector= registers the jobs of the current JOB_COLLECTOR."""

    @job("mail.digest")
    def digest() -> None:
        return None

    with fake_queue() as fake:
        assert "mail.digest" in fake.jobs
