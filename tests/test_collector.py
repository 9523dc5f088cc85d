"""@job, Job, JobCollector and the privacyIDEA-compatible helpers around register_app."""

from __future__ import annotations

import dataclasses
import re
import threading
import types
from typing import Any

import pytest

from queuekit import (
    JOB_COLLECTOR,
    Job,
    JobCollector,
    JobStatus,
    get_job_queue,
    has_job_queue,
    job,
    jobs,
    register_app,
    wrap_job,
)
from queuekit.backends.memory import MemoryQueue
from queuekit.exceptions import (
    BackendNotFound,
    ConfigurationError,
    DuplicateJob,
    NoQueueConfigured,
    QueueError,
)
from queuekit.testing.fake import FakeQueue

WAIT = 10.0

NO_QUEUE = re.escape(
    "No job queue is configured: set QUEUEKIT_BACKEND (or PI_JOB_QUEUE_CLASS with "
    "prefix='PI_JOB_QUEUE_') in the app config and call register_app(app) first."
)

IMMEDIATE = {"QUEUEKIT_BACKEND": "memory", "QUEUEKIT_MODE": "immediate"}


@pytest.fixture
def flask() -> types.ModuleType:
    """The flask module (the Flask tests need it installed)."""
    return pytest.importorskip("flask")


def first(x: int) -> int:
    return x


def second(x: int) -> int:
    return x


# -- @job and Job -----------------------------------------------------------------------------------


def test_bare_decorator_collects_under_module_and_qualname(collector: JobCollector) -> None:
    """@job without arguments collects the function under module.qualname and returns a Job."""

    @job
    def notify(user: str) -> str:
        """Tell the user."""
        return f"hi {user}"

    assert isinstance(notify, Job)
    assert (
        notify.name
        == f"{__name__}.test_bare_decorator_collects_under_module_and_qualname.<locals>.notify"
    )
    assert list(collector.jobs) == [notify.name]
    func, args, kwargs = collector.jobs[notify.name]
    assert (func, args, kwargs) == (notify.__wrapped__, (), {})


def test_called_decorator_forms_take_a_name(collector: JobCollector) -> None:
    """@job("x"), @job(name="x") and @job() all collect, the first two under the given name."""

    @job("mail.send")
    def a() -> None: ...

    @job(name="mail.other")
    def b() -> None: ...

    @job()
    def c() -> None: ...

    assert (a.name, b.name) == ("mail.send", "mail.other")
    assert c.name.endswith(".c")
    assert set(collector.jobs) == {"mail.send", "mail.other", c.name}


def test_job_still_runs_inline_and_keeps_its_doc(collector: JobCollector) -> None:
    """Calling a Job runs the function in place; doc, __wrapped__ and repr are useful."""

    @job("math.add")
    def add(a: int, b: int = 0) -> int:
        """Add two numbers."""
        return a + b

    assert add(2, b=3) == 5
    assert add.__doc__ == "Add two numbers."
    assert add.__wrapped__(1) == 1
    assert repr(add) == "<Job 'math.add'>"


def test_extra_decorator_arguments_are_forwarded_to_register_job(collector: JobCollector) -> None:
    """Positional and keyword extras of @job reach the backend's register_job, as in privacyIDEA."""

    @job("mail.send", "smtp", queue="mail", engine_flag=True)
    def send() -> None: ...

    assert collector.jobs["mail.send"][1:] == (("smtp",), {"queue": "mail", "engine_flag": True})
    queue = collector.register_jobs(FakeQueue())
    registered = queue.jobs["mail.send"]
    assert (registered.args, registered.options, registered.backend_options) == (
        ("smtp",),
        {"queue": "mail"},
        {"engine_flag": True},
    )


def test_duplicate_job_names_raise_naming_both_functions() -> None:
    """A second, different function under a collected name raises, naming both and the fix."""
    collector = JobCollector()
    collector.register_job("dup", first)
    with pytest.raises(
        DuplicateJob,
        match=r"Two jobs are named 'dup': [\w.]*test_collector\.first and [\w.]*test_collector\.second\. "
        r"Pass a distinct name to @job\(name=\.\.\.\)\.",
    ):
        collector.register_job("dup", second)
    assert collector.jobs["dup"][0] is first


def test_duplicate_name_through_the_decorator_raises(collector: JobCollector) -> None:
    """Two @job functions with one name raise DuplicateJob at decoration time."""

    @job("same")
    def one() -> None: ...

    with pytest.raises(DuplicateJob, match=r"Two jobs are named 'same': .*\.one and .*\.two\."):

        @job("same")
        def two() -> None: ...


def test_same_function_collected_again_is_not_a_duplicate() -> None:
    """Collecting one function twice (or its re-imported twin) replaces silently."""
    collector = JobCollector()
    collector.register_job("x", first, ("a",))
    collector.register_job("x", first, ("b",))
    twin = types.FunctionType(first.__code__, first.__globals__, "first")
    twin.__qualname__ = first.__qualname__
    collector.register_job("x", twin)
    assert collector.jobs["x"][0] is twin


def test_privacyidea_register_job_signature_is_kept() -> None:
    """JobCollector.register_job(name, func, args, kwargs) stores them for the backend."""
    collector = JobCollector()
    collector.register_job("j", first, ["pos"], {"queue": "q"})
    assert collector.jobs == {"j": (first, ("pos",), {"queue": "q"})}


def test_global_collector_is_the_one_register_app_uses() -> None:
    """JOB_COLLECTOR is a JobCollector and the module-level register_app uses it."""
    assert isinstance(JOB_COLLECTOR, JobCollector)
    assert jobs.JOB_COLLECTOR is JOB_COLLECTOR


# -- register_app with a plain mapping ---------------------------------------------------------------


def test_register_app_with_mapping_builds_queue_with_every_job(collector: JobCollector) -> None:
    """A mapping naming a backend yields a queue holding every collected job, process-wide."""

    @job("mail.send")
    def send(to: str) -> str:
        return f"sent to {to}"

    queue = register_app(dict(IMMEDIATE))
    assert isinstance(queue, MemoryQueue) and queue.mode == "immediate"
    assert set(queue.jobs) == {"mail.send"}
    assert queue.app is None
    assert has_job_queue() and get_job_queue() is queue
    assert send.enqueue("a@b").return_value == "sent to a@b"


def test_register_app_without_backend_creates_no_queue(collector: JobCollector) -> None:
    """No <prefix>BACKEND: no queue, has_job_queue() is False and get_job_queue() says how to fix it."""
    assert register_app({"QUEUEKIT_MODE": "immediate", "OTHER": 1}) is None
    assert has_job_queue() is False
    with pytest.raises(NoQueueConfigured, match=NO_QUEUE) as info:
        get_job_queue()
    assert isinstance(info.value, QueueError) and isinstance(info.value, RuntimeError)


def test_register_app_with_empty_backend_creates_no_queue(collector: JobCollector) -> None:
    """An empty QUEUEKIT_BACKEND means no queue, as an empty PI_JOB_QUEUE_CLASS does in privacyIDEA."""
    assert register_app({"QUEUEKIT_BACKEND": ""}) is None
    assert not has_job_queue()


def test_register_app_with_a_bad_alias_raises_with_suggestion(collector: JobCollector) -> None:
    """A misspelt backend raises with a did-you-mean instead of failing silently."""
    with pytest.raises(
        BackendNotFound, match=r"No such backend: 'memroy'\. Did you mean 'memory'\?"
    ):
        register_app({"QUEUEKIT_BACKEND": "memroy"})
    assert not has_job_queue()


def test_register_app_with_a_bad_option_raises_with_suggestion(collector: JobCollector) -> None:
    """A misspelt option key raises naming the lower-cased option and the right one."""
    with pytest.raises(
        ConfigurationError,
        match=r"Unknown option 'concurency' for backend 'memory'\. Did you mean 'concurrency'\?",
    ):
        register_app({"QUEUEKIT_BACKEND": "memory", "QUEUEKIT_CONCURENCY": 2})


def test_register_app_refuses_things_without_a_config_mapping() -> None:
    """An object that is not a mapping and has no config mapping is refused by type name."""
    with pytest.raises(
        TypeError,
        match=re.escape(
            "register_app() needs a Flask app, an object with a config mapping or a mapping, got int."
        ),
    ):
        register_app(42)
    with pytest.raises(TypeError, match="got SimpleNamespace"):
        register_app(types.SimpleNamespace(config="QUEUEKIT_BACKEND=memory"))


def test_register_app_with_a_custom_collector_registers_its_jobs() -> None:
    """JobCollector().register_app registers that collector's jobs only."""
    mine = JobCollector()
    mine.register_job("only.mine", first)
    queue = mine.register_app(dict(IMMEDIATE))
    assert queue is not None and set(queue.jobs) == {"only.mine"}


# -- register_app with an object that has .config -------------------------------------------------


def test_register_app_with_config_object_binds_queue_to_it(collector: JobCollector) -> None:
    """An object with a config mapping gets its own queue, bound to it as queue.app."""
    app = types.SimpleNamespace(config=dict(IMMEDIATE))
    queue = register_app(app)
    assert queue is not None and queue.app is app
    assert get_job_queue(app) is queue and has_job_queue(app)


def test_unregistered_config_object_with_no_queue_is_reported(collector: JobCollector) -> None:
    """An app registered without a backend has no queue even if another app has one."""
    with_queue = types.SimpleNamespace(config=dict(IMMEDIATE))
    without = types.SimpleNamespace(config={})
    register_app(with_queue)
    register_app(without)
    assert has_job_queue(with_queue) is True
    assert has_job_queue(without) is False
    with pytest.raises(NoQueueConfigured, match=NO_QUEUE):
        get_job_queue(without)


def test_unhashable_app_object_still_gets_its_queue(collector: JobCollector) -> None:
    """An app that is weak-referenceable but unhashable (a dataclass) keeps and finds its queue."""

    @dataclasses.dataclass
    class App:
        config: dict[str, Any]

    app = App(dict(IMMEDIATE))
    queue = register_app(app)
    assert get_job_queue(app) is queue


# -- privacyIDEA and eduMFA configuration -----------------------------------------------------------


def test_privacyidea_pi_cfg_is_read_unchanged(collector: JobCollector) -> None:
    """A pi.cfg-style mapping with PI_JOB_QUEUE_CLASS and PI_JOB_QUEUE_* options builds the queue."""

    @job("privacyidea.lib.smtpserver.send_email")
    def send_email(recipient: str) -> str:
        return recipient

    pi_cfg = {
        "SUPERUSER_REALM": ["super"],
        "PI_ENCFILE": "/etc/privacyidea/enckey",
        "PI_JOB_QUEUE_CLASS": "queuekit.backends.memory.MemoryQueue",
        "PI_JOB_QUEUE_MODE": "immediate",
        "PI_JOB_QUEUE_MAX_RESULTS": "50",
        "PI_LOGLEVEL": 20,
    }
    queue = register_app(pi_cfg, prefix="PI_JOB_QUEUE_")
    assert isinstance(queue, MemoryQueue)
    assert (queue.options["mode"], queue.options["max_results"]) == ("immediate", 50)
    assert "privacyidea.lib.smtpserver.send_email" in queue.jobs
    assert get_job_queue() is queue


def test_privacyidea_with_alias_and_url_option(collector: JobCollector) -> None:
    """PI_JOB_QUEUE_CLASS may be an alias; PI_JOB_QUEUE_URL becomes the url option."""
    queue = register_app(
        {"PI_JOB_QUEUE_CLASS": "memory", "PI_JOB_QUEUE_URL": "memory://"}, prefix="PI_JOB_QUEUE_"
    )
    assert queue is not None and queue.url == "memory://"


def test_privacyidea_without_class_has_no_queue(collector: JobCollector) -> None:
    """Without PI_JOB_QUEUE_CLASS nothing is created, like privacyIDEA's register_app."""
    assert register_app({"PI_LOGLEVEL": 20}, prefix="PI_JOB_QUEUE_") is None
    assert not has_job_queue()


def test_privacyidea_keys_are_ignored_with_the_default_prefix(collector: JobCollector) -> None:
    """PI_JOB_QUEUE_CLASS is not read unless prefix='PI_JOB_QUEUE_' is passed."""
    assert register_app({"PI_JOB_QUEUE_CLASS": "memory"}) is None


@pytest.mark.parametrize(
    ("prefix", "path"),
    [
        ("PI_JOB_QUEUE_", "privacyidea.lib.queues.huey_queue.HueyQueue"),
        ("EDUMFA_JOB_QUEUE_", "edumfa.lib.queues.huey_queue.HueyQueue"),
    ],
)
def test_legacy_huey_class_in_old_config_names_its_replacement(
    collector: JobCollector, prefix: str, path: str
) -> None:
    """An old pi.cfg / edumfa.cfg huey class path raises, naming queuekit's replacement."""
    with pytest.raises(
        BackendNotFound, match=re.escape("queuekit replaces it with 'queuekit_huey.HueyQueue'.")
    ):
        register_app({f"{prefix}CLASS": path, f"{prefix}URL": "redis://somehost"}, prefix=prefix)


def test_edumfa_prefix_reads_its_keys(collector: JobCollector) -> None:
    """prefix='EDUMFA_JOB_QUEUE_' reads EDUMFA_JOB_QUEUE_CLASS and its lower-cased options."""

    @job("edumfa.lib.smtpserver.send_email")
    def send_email() -> str:
        return "ok"

    queue = register_app(
        {
            "EDUMFA_JOB_QUEUE_CLASS": "memory",
            "EDUMFA_JOB_QUEUE_MODE": "immediate",
            "PI_JOB_QUEUE_CLASS": "nonsense.ignored",
        },
        prefix="EDUMFA_JOB_QUEUE_",
    )
    assert isinstance(queue, MemoryQueue) and queue.mode == "immediate"
    assert send_email.enqueue().return_value == "ok"


# -- get_job_queue / has_job_queue / wrap_job --------------------------------------------------------


def test_wrap_job_enqueues_and_returns_the_fixed_result(collector: JobCollector) -> None:
    """wrap_job(name, result) returns a function that enqueues the job and returns result."""
    received: list[tuple[Any, ...]] = []

    @job("mail.send")
    def send(to: str, subject: str = "") -> None:
        received.append((to, subject))

    queue = register_app(dict(IMMEDIATE))
    assert queue is not None
    wrapped = wrap_job("mail.send", True)
    assert wrapped("a@b", subject="hi") is True
    assert received == [("a@b", "hi")]
    assert wrapped.__name__ == "enqueue_mail_send"


def test_wrap_job_without_a_queue_fails_when_called() -> None:
    """A wrapped job can be built before configuration but raises NoQueueConfigured when called."""
    wrapped = wrap_job("mail.send", None)
    with pytest.raises(NoQueueConfigured, match=NO_QUEUE):
        wrapped("a@b")


def test_wrap_job_refuses_non_json_arguments_at_the_call(collector: JobCollector) -> None:
    """A wrapped job validates its arguments like any enqueue."""

    @job("mail.send")
    def send(to: Any) -> None: ...

    register_app(dict(IMMEDIATE))
    with pytest.raises(QueueError, match=re.escape("args[0] is a set")):
        wrap_job("mail.send", None)({"a@b"})


def test_job_enqueue_without_a_queue_raises(collector: JobCollector) -> None:
    """Job.enqueue with nothing configured raises NoQueueConfigured with the fix."""

    @job("x")
    def x() -> None: ...

    with pytest.raises(NoQueueConfigured, match=NO_QUEUE):
        x.enqueue()


def test_job_kwargs_named_like_options_reach_the_function(collector: JobCollector) -> None:
    """Job.enqueue(queue=...) passes queue as the job's argument, not as an enqueue option."""

    @job("route")
    def route(queue: str, priority: int) -> list[Any]:
        return [queue, priority]

    register_app(dict(IMMEDIATE))
    assert route.enqueue(queue="q1", priority=3).return_value == ["q1", 3]


def test_using_sets_per_call_options_and_an_explicit_queue(collector: JobCollector) -> None:
    """using() returns a copy with options and/or a bound queue; the original is unchanged."""

    @job("report")
    def report(n: int) -> int:
        return n

    fake = collector.register_jobs(FakeQueue())
    urgent = report.using(backend=fake, queue="reports", priority=9)
    result = urgent.enqueue(1)
    assert result.queue == "reports" and result.backend is fake
    fake.assert_enqueued("report", [1], queue="reports", priority=9)
    later = urgent.using(delay=60)
    assert later.enqueue(2).status is JobStatus.SCHEDULED
    assert fake.enqueued()[-1].options["priority"] == 9
    with pytest.raises(NoQueueConfigured):
        report.enqueue(3)


def test_using_options_are_validated_at_enqueue(collector: JobCollector) -> None:
    """A misspelt using() option is refused when the copy enqueues, with a suggestion."""

    @job("report")
    def report() -> None: ...

    fake = collector.register_jobs(FakeQueue())
    with pytest.raises(
        QueueError,
        match=re.escape(
            "Unknown enqueue option 'prioirty' for job 'report'. Did you mean 'priority'?"
        ),
    ):
        report.using(backend=fake, prioirty=1).enqueue()


def test_job_enqueue_many_sends_every_call(collector: JobCollector) -> None:
    """Job.enqueue_many sends one job per call to the bound queue."""

    @job("add")
    def add(a: int, b: int = 0) -> int:
        return a + b

    fake = collector.register_jobs(FakeQueue())
    ids = add.using(backend=fake).enqueue_many([[1, 2], [3]])
    assert [e.id for e in fake.history] == ids
    assert [r.return_value for r in fake.run_all()] == [3, 3]


def test_per_job_queue_default_from_the_decorator(collector: JobCollector) -> None:
    """@job(queue='mail') makes 'mail' the job's default queue on the configured backend."""

    @job("mail.send", queue="mail")
    def send() -> None: ...

    queue = register_app({"QUEUEKIT_BACKEND": "memory", "QUEUEKIT_AUTOSTART": "false"})
    assert queue is not None
    try:
        assert send.enqueue().queue == "mail"
        assert queue.count("mail") == 1
    finally:
        queue.close()


# -- Flask -------------------------------------------------------------------------------------------


def test_flask_app_gets_its_own_queue(flask: Any, collector: JobCollector) -> None:
    """register_app(flask_app) stores the queue on that app, also under app.extensions."""
    app = flask.Flask("one")
    app.config.update(IMMEDIATE)
    queue = register_app(app)
    assert queue is not None and queue.app is app
    assert app.extensions["queuekit"] is queue
    with app.app_context():
        assert get_job_queue() is queue and has_job_queue()
    assert get_job_queue(app) is queue


def test_two_flask_apps_keep_separate_queues(flask: Any, collector: JobCollector) -> None:
    """Inside each app's context get_job_queue() returns that app's queue, or raises if it has none."""
    one, two, none = flask.Flask("one"), flask.Flask("two"), flask.Flask("none")
    one.config.update(IMMEDIATE)
    two.config.update(
        {"QUEUEKIT_BACKEND": "memory", "QUEUEKIT_MODE": "immediate", "QUEUEKIT_MAX_RESULTS": 7}
    )
    q1, q2 = register_app(one), register_app(two)
    register_app(none)
    assert q1 is not q2
    with one.app_context():
        assert get_job_queue() is q1
    with two.app_context():
        assert get_job_queue() is q2
    with none.app_context():
        assert has_job_queue() is False
        with pytest.raises(NoQueueConfigured, match=NO_QUEUE):
            get_job_queue()
    assert (get_job_queue(one), get_job_queue(two)) == (q1, q2)
    assert none.extensions["queuekit"] is None


def test_flask_job_runs_inside_app_context_on_a_worker_thread(
    flask: Any, collector: JobCollector
) -> None:
    """A job run by the worker runtime on a pool thread sees flask.current_app as its app."""
    seen: dict[str, Any] = {}

    @job("ctx.probe")
    def probe() -> str:
        seen["app"] = flask.current_app._get_current_object()
        seen["thread"] = threading.current_thread().name
        seen["queue"] = get_job_queue()
        return flask.current_app.name

    app = flask.Flask("ctxapp")
    app.config.update({"QUEUEKIT_BACKEND": "memory", "QUEUEKIT_CONCURRENCY": "1"})
    queue = register_app(app)
    assert queue is not None
    try:
        with app.app_context():
            pending = probe.enqueue()
        final = pending.wait(timeout=WAIT)
    finally:
        queue.close()
    assert final.status is JobStatus.SUCCEEDED, final.error
    assert final.return_value == "ctxapp"
    assert seen["app"] is app and seen["queue"] is queue
    assert seen["thread"] != threading.current_thread().name


def test_flask_job_in_immediate_mode_gets_an_app_context_outside_requests(
    flask: Any, collector: JobCollector
) -> None:
    """An immediate job enqueued outside any app context still runs inside the app's context."""

    @job("ctx.name")
    def name() -> str:
        return flask.current_app.name

    app = flask.Flask("immediate-app")
    app.config.update(IMMEDIATE)
    register_app(app)
    assert not flask.has_app_context()
    with app.app_context():
        result = name.enqueue()
    assert result.return_value == "immediate-app"
    assert get_job_queue(app).submit("ctx.name").return_value == "immediate-app"


def test_flask_request_handler_enqueues_through_the_app_queue(
    flask: Any, collector: JobCollector
) -> None:
    """A view that enqueues a job uses the queue of the app serving the request."""

    @job("mail.send")
    def send(to: str) -> str:
        return f"sent to {to}"

    app = flask.Flask("web")
    app.config.update(IMMEDIATE)
    register_app(app)

    @app.route("/send/<to>")
    def view(to: str) -> str:
        return str(send.enqueue(to).return_value)

    assert app.test_client().get("/send/ann").get_data(as_text=True) == "sent to ann"
