"""Configuration to queue: prefixed mappings, URLs and keywords."""

from __future__ import annotations

import re
from typing import Any

import pytest

from queuekit import create_queue
from queuekit.backends.memory import MemoryQueue
from queuekit.config import backend_from_url, read_prefixed
from queuekit.exceptions import BackendNotFound, ConfigurationError

# -- read_prefixed --------------------------------------------------------------------------------


def test_read_prefixed_splits_backend_and_lower_cased_options() -> None:
    """<prefix>BACKEND names the backend; other prefixed keys become lower-cased options."""
    config = {
        "QUEUEKIT_BACKEND": "memory",
        "QUEUEKIT_URL": "memory://",
        "QUEUEKIT_MAX_RESULTS": "10",
        "SECRET_KEY": "flask",
        "QUEUEKIT": "no suffix",
        "queuekit_mode": "lower-case keys are not ours",
        3: "non-str key",
    }
    assert read_prefixed(config) == ("memory", {"url": "memory://", "max_results": "10"})


def test_read_prefixed_accepts_privacyidea_class_key() -> None:
    """PI_JOB_QUEUE_CLASS names the backend with prefix='PI_JOB_QUEUE_'."""
    config = {
        "PI_JOB_QUEUE_CLASS": "memory",
        "PI_JOB_QUEUE_URL": "redis://somehost",
        "PI_LOGLEVEL": 20,
    }
    assert read_prefixed(config, "PI_JOB_QUEUE_") == ("memory", {"url": "redis://somehost"})


def test_read_prefixed_with_neither_key_has_no_backend() -> None:
    """Without BACKEND or CLASS the backend is None, and options are still collected."""
    assert read_prefixed({"QUEUEKIT_MODE": "immediate"}) == (None, {"mode": "immediate"})


@pytest.mark.parametrize(
    "config",
    [
        {"QUEUEKIT_BACKEND": "memory", "QUEUEKIT_CLASS": "memory"},
        {"QUEUEKIT_BACKEND": "", "QUEUEKIT_CLASS": "memory"},
        {"QUEUEKIT_BACKEND": "memory", "QUEUEKIT_CLASS": None},
        {"QUEUEKIT_CLASS": "memory", "QUEUEKIT_BACKEND": ""},
    ],
)
def test_backend_and_class_may_agree_or_one_may_be_empty(config: dict[str, Any]) -> None:
    """BACKEND and CLASS naming the same backend, or one of them empty, is fine."""
    assert read_prefixed(config)[0] == "memory"


def test_backend_and_class_naming_different_backends_raise() -> None:
    """BACKEND and CLASS naming different backends raise, naming both and the fix."""
    with pytest.raises(
        ConfigurationError,
        match=re.escape(
            "PI_JOB_QUEUE_BACKEND and PI_JOB_QUEUE_CLASS name different backends ('memory' and "
            "'rq'); keep one of them."
        ),
    ):
        read_prefixed(
            {"PI_JOB_QUEUE_BACKEND": "memory", "PI_JOB_QUEUE_CLASS": "rq"}, "PI_JOB_QUEUE_"
        )


# -- backend_from_url -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("memory://", ("memory", "memory://")),
        ("sqlite:///var/jobs.db", ("sqlite", "sqlite:///var/jobs.db")),
        ("rq+redis://localhost:6379/0", ("rq", "redis://localhost:6379/0")),
        ("kombu+amqp://u:p@rabbit//", ("kombu", "amqp://u:p@rabbit//")),
    ],
)
def test_backend_from_url(url: str, expected: tuple[str, str]) -> None:
    """A known scheme or a '<backend>+' scheme prefix names the backend and the engine URL."""
    assert backend_from_url(url) == expected


def test_url_that_names_no_backend_is_refused_redacted_with_the_fix() -> None:
    """A plain redis URL is refused with the password hidden and a 'rq+redis://' example."""
    with pytest.raises(
        ConfigurationError,
        match=re.escape(
            "The URL 'redis://:***@cache/0' does not say which backend to use. Pass backend= "
            "(celery, huey, kombu, rq, ...) or prefix the scheme with it, like 'rq+redis://...'."
        ),
    ) as info:
        backend_from_url("redis://:hunter2@cache/0")
    assert "hunter2" not in str(info.value)


def test_url_without_scheme_suggests_a_redis_example() -> None:
    """A URL with no scheme at all still gets a concrete example."""
    with pytest.raises(ConfigurationError, match=re.escape("like 'rq+redis://...'")):
        backend_from_url("//cache:6379/0")


def test_host_and_port_without_scheme_is_not_mistaken_for_a_scheme() -> None:
    """'localhost:6379' gets a real scheme in its example, not 'rq+localhost://'."""
    with pytest.raises(ConfigurationError) as info:
        backend_from_url("localhost:6379")
    assert "rq+localhost://" not in str(info.value)


# -- create_queue ---------------------------------------------------------------------------------


def test_create_queue_from_a_url() -> None:
    """create_queue('memory://') builds a memory queue keeping the URL."""
    with create_queue("memory://") as queue:
        assert type(queue) is MemoryQueue and queue.url == "memory://"


def test_create_queue_from_keywords() -> None:
    """create_queue(backend=..., **options) builds and configures the queue."""
    with create_queue(backend="memory", mode="immediate", max_results=5) as queue:
        assert isinstance(queue, MemoryQueue)
        assert (queue.mode, queue.options["max_results"]) == ("immediate", 5)


def test_create_queue_from_a_mapping_with_keyword_overrides() -> None:
    """A mapping with a backend key is used, and keywords override it."""
    config = {"backend": "memory", "mode": "threaded", "concurrency": 2}
    with create_queue(config, mode="immediate") as queue:
        assert (queue.options["mode"], queue.options["concurrency"]) == ("immediate", 2)
    assert config["mode"] == "threaded"


def test_create_queue_from_prefixed_environment() -> None:
    """With prefix=, an environ-like mapping of strings is read and coerced."""
    environ = {
        "QUEUEKIT_BACKEND": "memory",
        "QUEUEKIT_MODE": "immediate",
        "QUEUEKIT_MAX_RESULTS": "25",
        "PATH": "/usr/bin",
    }
    with create_queue(environ, prefix="QUEUEKIT_") as queue:
        assert (queue.options["mode"], queue.options["max_results"]) == ("immediate", 25)


def test_create_queue_accepts_a_class_or_class_path() -> None:
    """backend= may be a backend class or a dotted class path."""
    with create_queue(backend=MemoryQueue) as by_class:
        assert type(by_class) is MemoryQueue
    with create_queue(backend="queuekit.backends.memory:MemoryQueue") as by_path:
        assert type(by_path) is MemoryQueue


def test_create_queue_without_a_backend_says_how_to_configure_one() -> None:
    """No backend anywhere raises with the three ways to name one."""
    with pytest.raises(
        ConfigurationError,
        match=re.escape(
            "No backend configured: pass backend='memory' (or 'sqlite', 'rq', ...), a URL such as "
            "'memory://', or set QUEUEKIT_BACKEND."
        ),
    ):
        create_queue({"mode": "immediate"})
    with pytest.raises(ConfigurationError, match="No backend configured"):
        create_queue({"QUEUEKIT_MODE": "immediate"}, prefix="QUEUEKIT_")


def test_create_queue_refuses_other_config_types() -> None:
    """A config that is neither URL nor mapping is refused naming its type."""
    with pytest.raises(
        ConfigurationError, match=re.escape("create_queue() takes a URL or a mapping, got list.")
    ):
        create_queue(["memory"])  # type: ignore[arg-type]


def test_backend_and_url_that_disagree_raise_redacted() -> None:
    """backend= and a '<backend>+' URL naming another backend raise without the password."""
    with pytest.raises(
        ConfigurationError,
        match=re.escape(
            "backend='memory' and the URL 'redis://:***@h/0' (which names 'rq') disagree; keep "
            "one of them."
        ),
    ) as info:
        create_queue("rq+redis://:hunter2@h/0", backend="memory")
    assert "hunter2" not in str(info.value)


def test_backend_from_url_prefix_reaches_the_registry() -> None:
    """An 'rq+redis://' URL picks the rq backend; uninstalled, it names the extra to install."""
    try:
        create_queue("rq+redis://localhost/0")
    except BackendNotFound as exc:
        assert "pip install 'queuekit[rq]'" in str(exc)
    else:
        pytest.skip("queuekit-rq is installed here")


def test_typo_in_backend_alias_is_refused_with_a_suggestion() -> None:
    """A misspelt backend alias raises with a did-you-mean; nothing falls back silently."""
    with pytest.raises(
        BackendNotFound, match=r"No such backend: 'memmory'\. Did you mean 'memory'\?"
    ):
        create_queue(backend="memmory")


def test_typo_in_an_option_is_refused_with_a_suggestion() -> None:
    """A misspelt option raises with a did-you-mean naming the backend."""
    with pytest.raises(
        ConfigurationError,
        match=r"Unknown option 'concurency' for backend 'memory'\. Did you mean 'concurrency'\?",
    ):
        create_queue(backend="memory", concurency=2)
