"""Passwords in URLs and password-like options never reach a repr, log line or message."""

from __future__ import annotations

import pytest

from queuekit.redact import MASK, redact, redact_options


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("redis://user:pw@host:6379/0", "redis://user:***@host:6379/0"),
        ("redis://:pw@host", "redis://:***@host"),
        ("amqp://guest:guest@rabbit//", "amqp://guest:***@rabbit//"),
        ("rq+redis://u:p4ss@h/1", "rq+redis://u:***@h/1"),
        ("postgresql+psycopg://app:s%40cret@db:5432/q", "postgresql+psycopg://app:***@db:5432/q"),
        ("redis://h/0?password=abc&db=1", "redis://h/0?password=***&db=1"),
        ("redis://h?db=1&PASSWD=abc#frag", "redis://h?db=1&PASSWD=***#frag"),
        ("kombu://h/?secret=abc", "kombu://h/?secret=***"),
    ],
)
def test_url_passwords_are_masked(text: str, expected: str) -> None:
    """The password of a URL, in userinfo or as a query parameter, becomes ***."""
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "redis://host:6379/0",
        "redis://user@host/0",
        "redis://u:@h",
        "sqlite:///tmp/jobs.db",
        "memory://",
        "plain text with a:colon@sign but no scheme",
        "",
    ],
)
def test_text_without_a_password_is_unchanged(text: str) -> None:
    """Ports, users without passwords, empty passwords and plain text are left alone."""
    assert redact(text) == text


def test_every_url_in_a_longer_text_is_masked() -> None:
    """All URLs inside a sentence or a repr are masked, and the rest of the text is kept."""
    text = "tried redis://u:one@h and amqp://v:two@k, options {'url': 'rq+redis://w:three@x/0'}"
    shown = redact(text)
    for secret in ("one", "two", "three"):
        assert f":{secret}@" not in shown
    assert shown == (
        "tried redis://u:***@h and amqp://v:***@k, options {'url': 'rq+redis://w:***@x/0'}"
    )


def test_password_containing_an_at_sign_is_fully_masked() -> None:
    """A password with a literal '@' (urllib splits userinfo at the last '@') is hidden whole."""
    shown = redact("redis://user:p@ss-word@host:6379/0")
    assert "ss-word" not in shown
    assert shown.endswith("@host:6379/0")


def test_redact_options_masks_password_like_keys_and_urls() -> None:
    """Keys naming a password, secret or token are masked; URLs in other values are redacted."""
    shown = redact_options(
        {
            "url": "redis://u:pw@h/0",
            "password": "hunter2",
            "API_Token": "t0k",
            "client_secret": "s3",
            "name": "mail",
            "concurrency": 4,
        }
    )
    assert shown == {
        "url": "redis://u:***@h/0",
        "password": MASK,
        "API_Token": MASK,
        "client_secret": MASK,
        "name": "mail",
        "concurrency": 4,
    }


def test_redact_options_keeps_empty_secrets_visible_and_copies() -> None:
    """An unset password stays visibly unset, and the input mapping is not modified."""
    options = {"password": "", "token": None, "url": "redis://u:pw@h"}
    shown = redact_options(options)
    assert shown == {"password": "", "token": None, "url": "redis://u:***@h"}
    assert options["url"] == "redis://u:pw@h"
