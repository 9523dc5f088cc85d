"""The backend contract: capabilities, enqueue validation, options and what a minimal backend gets."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

import pytest

from queuekit import events
from queuekit.base import CAPABILITIES, BaseQueue, Call, call, capability_row
from queuekit.envelope import Envelope
from queuekit.exceptions import (
    ConfigurationError,
    DuplicateJob,
    InvalidArguments,
    QueueError,
    UnknownJob,
    UnsupportedCapability,
)
from queuekit.options import Option, coerce, parse_options, suggest
from queuekit.results import JobStatus


class Mini(BaseQueue):
    """The smallest possible backend: it implements only _send."""

    backend_name: ClassVar[str] = "mini"

    def __init__(self, options: dict[str, Any] | None = None, /, **kwargs: Any) -> None:
        super().__init__(options, **kwargs)
        self.sent: list[Envelope] = []

    def _send(self, envelope: Envelope) -> None:
        self.sent.append(envelope)


class Capable(Mini):
    """A backend declaring every capability, to reach the value checks behind them."""

    backend_name: ClassVar[str] = "capable"
    supports_delay = True
    supports_priority = True
    supports_results = True
    supports_retries = True
    supports_timeout = True
    supports_named_queues = True
    supports_bulk = True
    supports_cancel = True
    supports_unique = True
    supports_failed_store = True


class WithSecrets(Mini):
    """A backend with a password option and extra options passed through."""

    backend_name: ClassVar[str] = "secretive"
    options_schema: ClassVar[dict[str, Option]] = {
        "password": Option(str, None, "the broker password"),
        "retries_max": Option(int, 3, "an int option"),
        "eager": Option(bool, False, "a bool option"),
        "ratio": Option(float, 0.5, "a float option"),
        "flavour": Option(str, "plain", "a choice", choices=("plain", "fancy")),
    }


def send(to: str, subject: str = "") -> str:
    return f"{to}:{subject}"


def other_send(to: str) -> str:
    return to


@pytest.fixture
def mini() -> Mini:
    """A Mini queue with the job 'mail.send' registered."""
    queue = Mini()
    queue.register_job("mail.send", send)
    return queue


@pytest.fixture
def capable() -> Capable:
    """A Capable queue with the job 'mail.send' registered."""
    queue = Capable()
    queue.register_job("mail.send", send)
    return queue


@pytest.fixture
def seen() -> Iterator[list[events.Event]]:
    """Every lifecycle event emitted during the test."""
    recorded: list[events.Event] = []
    unsubscribe = events.subscribe(recorded.append)
    yield recorded
    unsubscribe()


# -- capabilities -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "capability", "asked"),
    [
        ({"delay": 5}, "delay", "delay=5"),
        ({"delay": timedelta(seconds=3)}, "delay", "delay=datetime.timedelta(seconds=3)"),
        ({"eta": datetime(2030, 1, 1, tzinfo=timezone.utc)}, "delay", "eta=datetime.datetime(2030"),
        ({"priority": 9}, "priority", "priority=9"),
        ({"timeout": 30}, "timeout", "timeout=30"),
        ({"retries": 2}, "retries", "retries=2"),
        ({"queue": "mail"}, "named queues", "queue='mail'"),
    ],
)
def test_unsupported_capability_names_backend_capability_and_option(
    mini: Mini, options: dict[str, Any], capability: str, asked: str
) -> None:
    """Asking for a capability the backend lacks raises, naming the backend, capability and option."""
    with pytest.raises(
        UnsupportedCapability,
        match=re.escape(f"Backend 'mini' does not support {capability} (asked for by {asked}"),
    ) as info:
        mini.enqueue("mail.send", ["a@b"], **options)
    assert "drop that option or configure a backend that supports it" in str(info.value)
    assert mini.sent == []


def test_unsupported_capability_is_a_queue_error_and_not_implemented_error(mini: Mini) -> None:
    """UnsupportedCapability can be caught as QueueError or NotImplementedError."""
    with pytest.raises(UnsupportedCapability) as info:
        mini.enqueue("mail.send", ["a@b"], priority=1)
    assert isinstance(info.value, QueueError) and isinstance(info.value, NotImplementedError)


def test_default_queue_name_needs_no_named_queue_capability(mini: Mini) -> None:
    """queue= naming the default queue is allowed on a backend without named queues."""
    mini.enqueue("mail.send", ["a@b"], queue="default")
    assert mini.sent[0].queue == "default"


def test_none_options_are_ignored_even_without_the_capability(mini: Mini) -> None:
    """An option passed as None asks for nothing and is skipped."""
    mini.enqueue("mail.send", ["a@b"], delay=None, priority=None, queue=None)
    assert mini.sent[0].options == {}


@pytest.mark.parametrize(
    ("method", "capability"),
    [("get_result", "results"), ("cancel", "cancel")],
)
def test_result_and_cancel_methods_need_their_capability(
    mini: Mini, method: str, capability: str
) -> None:
    """get_result() and cancel() on a backend without the capability raise naming it."""
    with pytest.raises(
        UnsupportedCapability,
        match=re.escape(f"Backend 'mini' does not support {capability} (asked for by {method}())"),
    ):
        getattr(mini, method)("0" * 32)


def test_count_and_len_say_the_backend_cannot_count(mini: Mini) -> None:
    """count() and len() raise UnsupportedCapability pointing at the engine's tools."""
    for action in (mini.count, lambda: len(mini)):
        with pytest.raises(
            UnsupportedCapability,
            match=re.escape(
                "Backend 'mini' cannot count waiting jobs; check the engine's own tools."
            ),
        ):
            action()


def test_run_worker_is_unsupported_by_default(mini: Mini) -> None:
    """A backend without a native worker says queuekit cannot start one."""
    with pytest.raises(
        UnsupportedCapability,
        match=re.escape("Backend 'mini' has no worker that queuekit can start."),
    ):
        mini.run_worker()


def test_capabilities_row_lists_every_flag_and_delivery() -> None:
    """capability_row gives every flag in order as a bool, then the delivery guarantee."""
    assert list(capability_row(Mini)) == [*CAPABILITIES, "delivery"]
    assert capability_row(Mini) == {
        **dict.fromkeys(CAPABILITIES, False),
        "delivery": "at-most-once",
    }
    assert Capable().capabilities() == {
        **dict.fromkeys(CAPABILITIES, True),
        "delivery": "at-most-once",
    }


# -- enqueue options -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typo", "meant"),
    [("prioirty", "priority"), ("dealy", "delay"), ("queu", "queue"), ("retry", "retries")],
)
def test_unknown_enqueue_option_gets_a_did_you_mean(mini: Mini, typo: str, meant: str) -> None:
    """A misspelt enqueue option names the job, suggests the right one and lists all of them."""
    with pytest.raises(
        InvalidArguments,
        match=re.escape(
            f"Unknown enqueue option {typo!r} for job 'mail.send'. Did you mean {meant!r}? "
            f"Known options: queue, delay, eta, priority, timeout, retries, backoff."
        ),
    ):
        mini.enqueue("mail.send", ["a@b"], **{typo: 1})


def test_unknown_enqueue_option_without_close_match_lists_known_options(mini: Mini) -> None:
    """An option resembling nothing gets no suggestion but still the list of known options."""
    with pytest.raises(InvalidArguments) as info:
        mini.enqueue("mail.send", ["a@b"], zzz=1)
    assert "Did you mean" not in str(info.value)
    assert "Unknown enqueue option 'zzz'" in str(info.value)
    assert "Known options: queue, delay, eta, priority, timeout, retries, backoff." in str(
        info.value
    )


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"priority": "high"}, "priority= must be an int, got 'high'."),
        ({"priority": 1.5}, "priority= must be an int, got 1.5."),
        ({"priority": True}, "priority= must be an int, got True."),
        ({"retries": -1}, "retries= must be an int >= 0, got -1."),
        ({"retries": "3"}, "retries= must be an int >= 0, got '3'."),
        ({"timeout": -1}, "timeout= must be a number of seconds >= 0 or a timedelta, got -1."),
        ({"timeout": "30"}, "timeout= must be a number of seconds >= 0 or a timedelta, got '30'."),
        ({"delay": -5}, "delay= must be a number of seconds >= 0 or a timedelta, got -5."),
        (
            {"delay": float("inf")},
            "delay= must be a number of seconds >= 0 or a timedelta, got inf.",
        ),
        (
            {"delay": timedelta(seconds=-1)},
            "delay= must be a number of seconds >= 0 or a timedelta, got -1.0.",
        ),
        ({"eta": 5}, "eta= must be a timezone-aware datetime, got 5."),
        (
            {"eta": datetime(2030, 1, 1, 12, 0)},
            "eta=2030-01-01T12:00:00 is a naive datetime; its time zone is unknown. Pass an aware "
            "one, e.g. datetime.now(timezone.utc) + timedelta(minutes=5).",
        ),
        ({"queue": ""}, "queue= must be a non-empty str, got ''."),
        ({"queue": 3}, "queue= must be a non-empty str, got 3."),
    ],
)
def test_bad_option_values_are_refused_naming_value_and_fix(
    capable: Capable, options: dict[str, Any], words: str
) -> None:
    """An enqueue option with a bad value is refused with the value and what is expected."""
    with pytest.raises(InvalidArguments, match=re.escape(words)):
        capable.enqueue("mail.send", ["a@b"], **options)
    assert capable.sent == []


def test_valid_options_land_in_the_envelope(capable: Capable) -> None:
    """delay, priority, timeout, retries and queue are carried in the envelope."""
    capable.enqueue(
        "mail.send",
        ["a@b"],
        delay=timedelta(seconds=30),
        priority=7,
        timeout=5,
        retries=2,
        queue="mail",
    )
    envelope = capable.sent[0]
    assert envelope.queue == "mail"
    assert envelope.options["priority"] == 7
    assert envelope.options["timeout"] == 5.0 and type(envelope.options["timeout"]) is float
    assert envelope.options["retries"] == 2
    assert envelope.options["eta"] == pytest.approx(envelope.enqueued_at + 30)


def test_eta_is_stored_as_epoch_seconds(capable: Capable) -> None:
    """An aware eta datetime becomes its POSIX timestamp in the envelope."""
    when = datetime(2031, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=2)))
    capable.enqueue("mail.send", ["a@b"], eta=when)
    assert capable.sent[0].options["eta"] == when.timestamp()


def test_per_job_options_are_defaults_that_calls_override(capable: Capable) -> None:
    """Options given at register_job are per-job defaults; a call's own options win."""
    capable.register_job("report", send, queue="reports", priority=3, engine_hint="fast")
    capable.enqueue("report", ["x"])
    capable.enqueue("report", ["x"], priority=8)
    first, second = capable.sent
    assert (first.queue, first.options) == ("reports", {"priority": 3})
    assert (second.queue, second.options) == ("reports", {"priority": 8})
    assert capable.jobs["report"].backend_options == {"engine_hint": "fast"}


# -- jobs, ids and validation a minimal backend gets for free -------------------------------------


def test_minimal_backend_gets_distinct_hex_ids_and_envelopes(mini: Mini) -> None:
    """enqueue returns the id of the envelope handed to _send, fresh 32-digit hex each time."""
    ids = [mini.enqueue("mail.send", ["a@b"], {"subject": "hi"}) for _ in range(3)]
    assert len(set(ids)) == 3
    assert all(re.fullmatch(r"[0-9a-f]{32}", job_id) for job_id in ids)
    assert [e.id for e in mini.sent] == ids
    assert (mini.sent[0].job, mini.sent[0].args, mini.sent[0].kwargs) == (
        "mail.send",
        ["a@b"],
        {"subject": "hi"},
    )


def test_minimal_backend_validates_arguments_before_sending(mini: Mini) -> None:
    """A non-JSON argument is refused with its path and nothing reaches _send."""
    with pytest.raises(InvalidArguments, match=re.escape("kwargs['subject'] is a set")):
        mini.enqueue("mail.send", ["a@b"], {"subject": {"x"}})
    assert mini.sent == []


def test_minimal_backend_refuses_unknown_job_with_suggestion(mini: Mini) -> None:
    """An unregistered job name is refused with a did-you-mean and how to register it."""
    with pytest.raises(
        UnknownJob,
        match=re.escape(
            "No job named 'mail.sned' is registered with this 'mini' queue. Did you mean "
            "'mail.send'? Decorate the function with @job and import its module before "
            "register_app() runs."
        ),
    ):
        mini.enqueue("mail.sned", ["a@b"])


def test_minimal_backend_emits_enqueued_events(mini: Mini, seen: list[events.Event]) -> None:
    """Each enqueue emits one 'enqueued' event naming id, job, queue and backend."""
    job_id = mini.enqueue("mail.send", ["a@b"])
    assert [(e.kind, e.job_id, e.job_name, e.queue, e.backend) for e in seen] == [
        ("enqueued", job_id, "mail.send", "default", "mini")
    ]


def test_minimal_backend_processes_messages_through_the_runtime(mini: Mini) -> None:
    """process() runs a wire message with the registered function and reports success."""
    mini.enqueue("mail.send", ["a@b"], {"subject": "hi"})
    outcome = mini.process(mini.sent[0].encode())
    assert outcome.status is JobStatus.SUCCEEDED
    assert outcome.return_value == "a@b:hi"
    assert outcome.job_id == mini.sent[0].id


def test_submit_returns_a_bound_queued_or_scheduled_result(capable: Capable) -> None:
    """submit() returns a JobResult bound to the queue: QUEUED, or SCHEDULED with a delay."""
    now = capable.submit("mail.send", ["a@b"])
    later = capable.submit("mail.send", ["a@b"], delay=60)
    assert (now.status, later.status) == (JobStatus.QUEUED, JobStatus.SCHEDULED)
    assert now.backend is capable and now.id == capable.sent[0].id
    assert now.job_name == "mail.send" and now.enqueued_at is not None


def test_refreshing_a_result_on_a_backend_without_results_raises(mini: Mini) -> None:
    """A submitted job's refresh() on a backend without results names the capability."""
    result = mini.submit("mail.send", ["a@b"])
    with pytest.raises(UnsupportedCapability, match="does not support results"):
        result.refresh()


def test_kwargs_none_means_no_keyword_arguments(mini: Mini) -> None:
    """kwargs=None is the same as no keyword arguments."""
    mini.enqueue("mail.send", ["a@b"], None)
    assert mini.sent[0].kwargs == {}


def test_envelope_gets_copies_of_the_callers_arguments(mini: Mini) -> None:
    """Mutating the caller's args or kwargs after enqueue does not change the envelope."""
    args, kwargs = ["a@b"], {"subject": "hi"}
    mini.enqueue("mail.send", args, kwargs)
    args.append("late")
    kwargs["subject"] = "changed"
    assert (mini.sent[0].args, mini.sent[0].kwargs) == (["a@b"], {"subject": "hi"})


def test_register_job_refuses_a_second_function_under_a_name(mini: Mini) -> None:
    """Registering another function under a taken name raises, naming both functions."""
    with pytest.raises(
        DuplicateJob,
        match=r"A job named 'mail\.send' is already registered \([\w.]*send\); give "
        r"[\w.]*other_send another name\.",
    ):
        mini.register_job("mail.send", other_send)


def test_register_job_accepts_the_same_function_again(mini: Mini) -> None:
    """Registering the same function under the same name again is harmless."""
    mini.register_job("mail.send", send, queue="x")
    assert mini.jobs["mail.send"].options == {"queue": "x"}


def test_base_class_send_must_be_implemented() -> None:
    """A backend that forgets _send gets a NotImplementedError naming its class."""
    queue = BaseQueue()
    queue.register_job("j", send)
    with pytest.raises(NotImplementedError, match=re.escape("BaseQueue must implement _send()")):
        queue.enqueue("j", ["x"])


# -- enqueue_many ----------------------------------------------------------------------------------


def test_enqueue_many_accepts_lists_and_calls(mini: Mini) -> None:
    """enqueue_many takes lists of positional args and call(...) items, one id per item."""
    ids = mini.enqueue_many("mail.send", [["a@b"], ("c@d",), call("e@f", subject="s")])
    assert [e.id for e in mini.sent] == ids
    assert [(e.args, e.kwargs) for e in mini.sent] == [
        (["a@b"], {}),
        (["c@d"], {}),
        (["e@f"], {"subject": "s"}),
    ]
    assert call(1, x=2) == Call((1,), {"x": 2})


def test_enqueue_many_refuses_an_item_that_is_not_a_call(mini: Mini) -> None:
    """A batch item that is neither a list nor a Call is named by index, with the fix."""
    with pytest.raises(
        InvalidArguments,
        match=re.escape(
            "calls[1] is str; each call is a list of positional args or "
            "queuekit.call(*args, **kwargs)."
        ),
    ):
        mini.enqueue_many("mail.send", [["a@b"], "c@d"])
    assert mini.sent == []


def test_enqueue_many_is_all_or_nothing(mini: Mini) -> None:
    """One invalid call refuses the batch, naming its index and path, and nothing is sent."""
    with pytest.raises(InvalidArguments, match=re.escape("calls[2]: args[0] is bytes")):
        mini.enqueue_many("mail.send", [["a"], ["b"], [b"c"]])
    assert mini.sent == []


def test_enqueue_many_of_nothing_sends_nothing(mini: Mini) -> None:
    """An empty batch returns no ids and sends nothing."""
    assert mini.enqueue_many("mail.send", []) == []
    assert mini.sent == []


# -- options schema --------------------------------------------------------------------------------


def test_unknown_backend_option_gets_did_you_mean_and_known_options() -> None:
    """A misspelt backend option is refused with a suggestion and the list of known options."""
    with pytest.raises(
        ConfigurationError,
        match=re.escape(
            "Unknown option 'pasword' for backend 'secretive'. Did you mean 'password'? Known "
            "options: default_queue, eager, flavour, max_payload_bytes, password, queues, ratio, retries_max, secret_key, url."
        ),
    ):
        WithSecrets(pasword="x")


def test_options_from_strings_are_coerced_to_their_types() -> None:
    """String values from config files become ints, floats and bools."""
    queue = WithSecrets({"retries_max": "7", "eager": " Yes ", "ratio": "0.25"})
    assert (queue.options["retries_max"], queue.options["eager"], queue.options["ratio"]) == (
        7,
        True,
        0.25,
    )
    assert WithSecrets(eager="off", ratio=2).options["eager"] is False
    assert WithSecrets(ratio=2).options["ratio"] == 2.0


def test_defaults_fill_unset_options() -> None:
    """Options not given take their declared defaults, common ones included."""
    assert WithSecrets().options == {
        "url": None,
        "default_queue": "default",
        "queues": None,
        "secret_key": None,
        "max_payload_bytes": 1024 * 1024,
        "password": None,
        "retries_max": 3,
        "eager": False,
        "ratio": 0.5,
        "flavour": "plain",
    }


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (
            {"eager": "maybe"},
            "Option 'eager' of backend 'secretive' must be a boolean, got 'maybe'; use true or false.",
        ),
        (
            {"retries_max": "seven"},
            "Option 'retries_max' of backend 'secretive' must be int, got 'seven'.",
        ),
        ({"ratio": "half"}, "Option 'ratio' of backend 'secretive' must be float, got 'half'."),
        (
            {"retries_max": 1.5},
            "Option 'retries_max' of backend 'secretive' must be int, got float 1.5.",
        ),
        ({"password": 1234}, "Option 'password' of backend 'secretive' must be str, got int 1234."),
        ({"eager": [1]}, "Option 'eager' of backend 'secretive' must be bool, got list [1]."),
        (
            {"flavour": "fancyy"},
            "Option 'flavour' of backend 'secretive' must be one of plain, fancy; got 'fancyy'. Did you mean 'fancy'?",
        ),
    ],
)
def test_option_coercion_errors_name_option_backend_value_and_fix(
    options: dict[str, Any], words: str
) -> None:
    """An option value of the wrong type is refused naming the option, backend and value."""
    with pytest.raises(ConfigurationError, match=re.escape(words)):
        WithSecrets(options)


def test_option_coercion_errors_redact_url_passwords() -> None:
    """A URL mistakenly given to a non-str option is shown with its password masked."""
    with pytest.raises(ConfigurationError, match=re.escape("got 'redis://u:***@h/0'")) as info:
        WithSecrets(retries_max="redis://u:hunter2@h/0")
    assert "hunter2" not in str(info.value)


def test_bool_is_not_accepted_for_an_int_option() -> None:
    """True given for an int option is refused rather than silently becoming 1."""
    with pytest.raises(
        ConfigurationError, match="'retries_max' of backend 'secretive' must be int"
    ):
        WithSecrets(retries_max=True)


def test_parse_options_passes_extra_keys_only_when_allowed() -> None:
    """allow_extra passes unknown keys through unchanged; without it they are refused."""
    schema = {"size": Option(int, 1, "a size")}
    assert parse_options("x", schema, {"size": "2", "engine_flag": "v"}, allow_extra=True) == {
        "size": 2,
        "engine_flag": "v",
    }
    with pytest.raises(ConfigurationError, match="Unknown option 'engine_flag' for backend 'x'"):
        parse_options("x", schema, {"engine_flag": "v"})


def test_coerce_passes_values_of_the_right_type_through() -> None:
    """Values already of the option's type are returned unchanged."""
    assert coerce("x", "n", Option(int, 1, "n"), 5) == 5
    assert coerce("x", "s", Option(str, "a", "s"), "b") == "b"
    assert coerce("x", "f", Option(float, 0.5, "f"), 2.5) == 2.5


def test_suggest_returns_close_match_or_nothing() -> None:
    """suggest() proposes the closest candidate and stays silent when none is close."""
    assert suggest("memroy", ["memory", "huey"]) == " Did you mean 'memory'?"
    assert suggest("zzz", ["memory", "huey"]) == ""


# -- repr ---------------------------------------------------------------------------------------------


def test_repr_redacts_url_password_and_password_options() -> None:
    """repr(queue) masks the URL password and password-like options but shows the rest."""
    queue = WithSecrets(url="redis://user:hunter2@host:6379/0", password="s3cret", flavour="fancy")
    text = repr(queue)
    assert "hunter2" not in text and "s3cret" not in text
    assert "url='redis://user:***@host:6379/0'" in text
    assert "password='***'" in text
    assert text.startswith("<WithSecrets 'secretive' ")
    assert "flavour='fancy'" in text


def test_context_manager_closes_the_queue() -> None:
    """Leaving a with block calls close()."""
    closed: list[bool] = []

    class Closing(Mini):
        def close(self) -> None:
            closed.append(True)

    with Closing() as queue:
        assert isinstance(queue, Closing)
        assert closed == []
    assert closed == [True]
