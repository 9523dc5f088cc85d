"""The worker runtime: refuses bad messages, runs registered jobs, reports every outcome."""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from queuekit import events, runtime
from queuekit.backends.memory import MemoryQueue
from queuekit.base import BaseQueue
from queuekit.envelope import Envelope
from queuekit.results import JobStatus


class JobFailed(Exception):
    """A job-specific error, to check qualified error type names."""


class Recorder(BaseQueue):
    """A backend that keeps what it is sent and every outcome it is asked to record."""

    backend_name: ClassVar[str] = "recorder"

    def __init__(self) -> None:
        super().__init__()
        self.recorded: list[runtime.Outcome] = []

    def _send(self, envelope: Envelope) -> None:
        pass

    def _record(self, outcome: runtime.Outcome) -> None:
        self.recorded.append(outcome)


def add(a: int, b: int) -> int:
    return a + b


def explode(message: str) -> None:
    raise JobFailed(message)


def returns_object() -> object:
    return object()


@pytest.fixture
def queue() -> Recorder:
    """A Recorder with the jobs 'add', 'explode' and 'returns_object'."""
    q = Recorder()
    for func in (add, explode, returns_object):
        q.register_job(func.__name__, func)
    return q


@pytest.fixture
def seen() -> Iterator[list[events.Event]]:
    """Every lifecycle event emitted during the test."""
    recorded: list[events.Event] = []
    unsubscribe = events.subscribe(recorded.append)
    yield recorded
    unsubscribe()


@pytest.fixture
def errors(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """caplog capturing the queuekit logger from ERROR up."""
    caplog.set_level(logging.ERROR, logger="queuekit")
    return caplog


def message(**fields: Any) -> bytes:
    """A wire message: a valid envelope for add(1, 2) with ``fields`` replaced."""
    data = Envelope(job="add", args=[1, 2], id="c0ffee" * 5 + "00").to_dict()
    data.update(fields)
    return json.dumps(data).encode()


# -- success and failure ---------------------------------------------------------------------


def test_registered_job_runs_with_the_message_arguments(queue: Recorder) -> None:
    """A valid message runs its job with its args and kwargs and returns the value."""
    outcome = runtime.execute(queue, message(args=[2], kwargs={"b": 40}))
    assert outcome.status is JobStatus.SUCCEEDED and outcome.succeeded
    assert outcome.return_value == 42
    assert outcome.rejected is False and outcome.error is None
    assert outcome.job_id == "c0ffee" * 5 + "00"
    assert 0 < outcome.started_at <= outcome.finished_at


def test_an_envelope_object_is_executed_directly(queue: Recorder) -> None:
    """execute() also takes an Envelope, as backends that decode themselves pass it."""
    outcome = runtime.execute(queue, Envelope(job="add", args=[5, 6]))
    assert (outcome.status, outcome.return_value) == (JobStatus.SUCCEEDED, 11)


def test_failing_job_keeps_type_message_and_traceback(queue: Recorder) -> None:
    """A raising job is FAILED with its qualified exception type, message and traceback."""
    outcome = runtime.execute(queue, Envelope(job="explode", args=["disk full"]))
    assert outcome.status is JobStatus.FAILED and not outcome.succeeded
    assert outcome.rejected is False
    assert outcome.error is not None
    assert outcome.error.type.endswith("test_runtime.JobFailed")
    assert outcome.error.message == "disk full"
    assert outcome.error.traceback.startswith("Traceback (most recent call last):")
    assert "in explode" in outcome.error.traceback
    assert "JobFailed: disk full" in outcome.error.traceback


def test_builtin_exception_types_are_named_without_module(queue: Recorder) -> None:
    """A builtin exception is named by its bare name, like TypeError."""
    outcome = runtime.execute(queue, Envelope(job="add", args=[1]))
    assert outcome.status is JobStatus.FAILED
    assert outcome.error is not None and outcome.error.type == "TypeError"
    assert "missing 1 required positional argument: 'b'" in outcome.error.message


def test_non_json_return_value_fails_the_job(queue: Recorder) -> None:
    """A job returning a value JSON cannot carry is FAILED, naming the return value."""
    outcome = runtime.execute(queue, Envelope(job="returns_object"))
    assert outcome.status is JobStatus.FAILED
    assert outcome.error is not None
    assert outcome.error.type == "queuekit.exceptions.InvalidArguments"
    assert outcome.error.message.startswith("the return value is an object of type builtins.object")


def test_failure_is_logged_with_job_id_and_traceback(
    queue: Recorder, errors: pytest.LogCaptureFixture
) -> None:
    """A failing job is logged at ERROR with its id, name, attempt and traceback."""
    envelope = Envelope(job="explode", args=["boom"], attempt=2)
    runtime.execute(queue, envelope)
    (record,) = [r for r in errors.records if r.levelno == logging.ERROR]
    text = record.getMessage()
    assert f"job {envelope.id} (explode) failed on attempt 2" in text
    assert "JobFailed: boom" in text
    assert "Traceback (most recent call last)" in text


def test_events_for_a_successful_job_are_started_then_succeeded(
    queue: Recorder, seen: list[events.Event]
) -> None:
    """A successful run emits 'started' then 'succeeded', with a duration."""
    envelope = Envelope(job="add", args=[1, 2], queue="math", attempt=3)
    runtime.execute(queue, envelope)
    assert [(e.kind, e.job_id, e.job_name, e.queue, e.backend, e.attempt) for e in seen] == [
        ("started", envelope.id, "add", "math", "recorder", 3),
        ("succeeded", envelope.id, "add", "math", "recorder", 3),
    ]
    assert seen[1].detail is not None and seen[1].detail["duration"] >= 0


def test_events_for_a_failing_job_are_started_then_failed(
    queue: Recorder, seen: list[events.Event]
) -> None:
    """A failing run emits 'started' then 'failed', the failure carrying type and message."""
    envelope = Envelope(job="explode", args=["nope"])
    runtime.execute(queue, envelope)
    assert [e.kind for e in seen] == ["started", "failed"]
    assert seen[1].job_id == envelope.id
    assert seen[1].error is not None and seen[1].error.endswith("JobFailed: nope")


def test_a_failing_subscriber_is_logged_and_does_not_stop_the_job(
    queue: Recorder, errors: pytest.LogCaptureFixture
) -> None:
    """A subscriber that raises is logged; the job still runs and succeeds."""

    def broken(event: events.Event) -> None:
        raise RuntimeError("subscriber bug")

    unsubscribe = events.subscribe(broken)
    try:
        outcome = runtime.execute(queue, Envelope(job="add", args=[1, 1]))
    finally:
        unsubscribe()
    assert outcome.return_value == 2
    assert any(
        "event subscriber" in r.getMessage() and "failed on started" in r.getMessage()
        for r in errors.records
    )


def test_unsubscribe_stops_delivery(queue: Recorder) -> None:
    """After unsubscribe() the callback receives no more events."""
    got: list[events.Event] = []
    unsubscribe = events.subscribe(got.append)
    runtime.execute(queue, Envelope(job="add", args=[1, 1]))
    unsubscribe()
    runtime.execute(queue, Envelope(job="add", args=[1, 1]))
    assert [e.kind for e in got] == ["started", "succeeded"]


def test_job_runs_inside_the_app_context_of_the_queue(queue: Recorder) -> None:
    """When the queue has an app with app_context(), the job runs inside that context."""
    states: list[str] = []

    class App:
        @contextlib.contextmanager
        def app_context(self) -> Iterator[None]:
            states.append("enter")
            yield
            states.append("exit")

    queue.app = App()
    queue.register_job("mark", lambda: states.append("run"))
    runtime.execute(queue, Envelope(job="mark"))
    assert states == ["enter", "run", "exit"]


def test_process_records_the_outcome(queue: Recorder) -> None:
    """BaseQueue.process() executes and hands the outcome to _record."""
    outcome = queue.process(Envelope(job="add", args=[2, 2]).encode())
    assert queue.recorded == [outcome]
    assert outcome.return_value == 4


def test_outcome_to_result_carries_everything(queue: Recorder) -> None:
    """Outcome.to_result gives a JobResult with id, name, queue, value, attempts and times."""
    envelope = Envelope(job="add", args=[1, 2], queue="math", attempt=2)
    result = runtime.execute(queue, envelope).to_result(queue)
    assert (result.id, result.job_name, result.queue, result.return_value) == (
        envelope.id,
        "add",
        "math",
        3,
    )
    assert result.status is JobStatus.SUCCEEDED and result.attempts == 2
    assert result.enqueued_at and result.started_at and result.finished_at
    assert result.enqueued_at <= result.started_at <= result.finished_at
    assert result.backend is queue


def test_dumps_result_is_compact_strict_json() -> None:
    """dumps_result writes compact JSON and refuses NaN."""
    assert runtime.dumps_result({"a": [1, None]}) == '{"a":[1,null]}'
    with pytest.raises(ValueError, match="not JSON compliant"):
        runtime.dumps_result(float("nan"))


# -- refusals --------------------------------------------------------------------------------------


def test_unknown_job_is_rejected_logged_with_id_and_not_run(
    queue: Recorder, errors: pytest.LogCaptureFixture, seen: list[events.Event]
) -> None:
    """A message naming an unregistered job is refused, logged with its id, and an event says so."""
    raw = message(job="os.system", args=["rm -rf /"])
    outcome = runtime.execute(queue, raw)
    assert outcome.rejected is True and outcome.status is JobStatus.FAILED
    assert outcome.job_id == "c0ffee" * 5 + "00"
    assert outcome.raw == raw
    assert outcome.error is not None and outcome.error.type == "UnknownJob"
    assert outcome.error.message == (
        "job 'os.system' is not registered in this worker; only registered jobs run (import the "
        "module that defines it in the worker's --app)"
    )
    (record,) = errors.records
    assert f"refused message {outcome.job_id} on backend recorder" in record.getMessage()
    assert "it was set aside" in record.getMessage()
    assert [(e.kind, e.job_id, e.job_name) for e in seen] == [
        ("rejected", outcome.job_id, "os.system")
    ]


def test_malformed_json_is_rejected_without_an_id(
    queue: Recorder, errors: pytest.LogCaptureFixture, seen: list[events.Event]
) -> None:
    """Bytes that are not JSON are refused with InvalidMessage and no job id."""
    outcome = runtime.execute(queue, b"\x80not json at all")
    assert outcome.rejected is True and outcome.job_id is None and outcome.envelope is None
    assert outcome.error is not None and outcome.error.type == "InvalidMessage"
    assert outcome.error.message.startswith("the message is not valid JSON")
    assert outcome.raw == b"\x80not json at all"
    assert "refused message None on backend recorder" in errors.records[0].getMessage()
    assert [e.kind for e in seen] == ["rejected"]


def test_unknown_version_is_rejected_and_logged_with_the_id(
    queue: Recorder, errors: pytest.LogCaptureFixture
) -> None:
    """A message of another envelope version is refused, logged under the id it carries."""
    outcome = runtime.execute(queue, message(v=7, id="future-job"))
    assert outcome.rejected is True and outcome.job_id == "future-job"
    assert outcome.error is not None
    assert "envelope version 7 is not supported by this worker" in outcome.error.message
    assert "upgrade queuekit on the worker" in outcome.error.message
    assert "refused message future-job" in errors.records[0].getMessage()


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"args": {"a": 1}}, "field 'args' must be a JSON list"),
        ({"kwargs": [1]}, "field 'kwargs' must be a JSON dict"),
        ({"job": 5}, "field 'job' must be a JSON str"),
        ({"attempt": 0}, "field 'attempt' must be a positive integer"),
        ({"options": "fast"}, "field 'options' must be a JSON object"),
        ({"v": "1"}, "no integer envelope version 'v'"),
    ],
)
def test_wrong_shaped_fields_are_rejected_not_raised(
    queue: Recorder, errors: pytest.LogCaptureFixture, fields: dict[str, Any], words: str
) -> None:
    """A message with a field of the wrong shape is refused, with the field named, and logged."""
    outcome = runtime.execute(queue, message(**fields))
    assert outcome.rejected is True and outcome.status is JobStatus.FAILED
    assert outcome.error is not None and words in outcome.error.message
    assert outcome.job_id == "c0ffee" * 5 + "00"
    assert words in errors.records[0].getMessage()


def test_refused_messages_are_recorded_by_process(queue: Recorder) -> None:
    """process() hands refusals to _record too, so backends can set them aside."""
    outcome = queue.process(b"garbage")
    assert queue.recorded == [outcome] and outcome.rejected


def test_message_of_an_unexpected_type_is_rejected_not_raised(queue: Recorder) -> None:
    """A message that is neither bytes, str, dict nor Envelope is refused as an Outcome."""
    outcome = runtime.execute(queue, [1, 2])  # type: ignore[arg-type]
    assert outcome.rejected is True
    assert outcome.error is not None and "got list" in outcome.error.message


def test_message_already_decoded_by_the_broker_runs(queue: Recorder) -> None:
    """A dict a broker already decoded from JSON is accepted like its bytes."""
    outcome = runtime.execute(queue, json.loads(message()))
    assert outcome.rejected is False


def test_threaded_worker_keeps_running_after_refusals(errors: pytest.LogCaptureFixture) -> None:
    """A memory worker thread refuses garbage, unknown jobs and old versions, then runs a good job."""
    with MemoryQueue(concurrency=1, autostart=False) as q:
        q.register_job("add", add)
        for raw in (b"\xff garbage", b"[1, 2]", message(v=0), message(job="nope", id="bad-id")):
            q.put_raw(raw)
        good = q.submit("add", [20, 22])
        q.start()
        final = good.wait(timeout=10)
        assert (final.status, final.return_value) == (JobStatus.SUCCEEDED, 42)
        refused = q.get_result("bad-id")
        assert refused.status is JobStatus.FAILED
        assert refused.error is not None and refused.error.type == "UnknownJob"
    logged = [r.getMessage() for r in errors.records]
    assert len(logged) == 4
    assert any("refused message bad-id" in line for line in logged)
    assert sum("refused message None" in line for line in logged) == 2
    assert all(re.search(r"it was set aside", line) for line in logged)
