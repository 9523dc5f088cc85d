"""The JSON round-trip check that guards every enqueue."""

from __future__ import annotations

import collections
import datetime as dt
import decimal
import enum
import re
import uuid
from typing import Any

import pytest

from queuekit.exceptions import InvalidArguments, QueueError
from queuekit.jsoncheck import check_call, check_json


class Color(enum.IntEnum):
    RED = 1


class Name(str):
    pass


class Opaque:
    pass


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        0,
        -7,
        2**70,
        1.5,
        -0.0,
        "",
        "text ü \u2603",
        [],
        {},
        [1, "a", None, [2.5, {"k": [True]}]],
        {"nested": {"deeper": [1, 2, {"x": None}]}},
    ],
)
def test_plain_json_values_pass(value: Any) -> None:
    """Every value that survives a JSON round trip unchanged is accepted."""
    check_json(value, "args[0]")


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ((1, 2), "is a tuple (JSON turns it into a list; pass a list)"),
        ({1, 2}, "is a set (JSON has no sets; pass a sorted list)"),
        (frozenset({1}), "is a frozenset (JSON has no sets; pass a sorted list)"),
        (b"raw", "is bytes (encode them, e.g. base64, and pass a str)"),
        (bytearray(b"raw"), "is a bytearray (encode it, e.g. base64, and pass a str)"),
        (dt.datetime(2024, 1, 2, 3, 4), "is a datetime (pass value.isoformat()"),
        (dt.date(2024, 1, 2), "is a date (pass value.isoformat()"),
        (dt.time(3, 4), "is a time (pass value.isoformat()"),
        (decimal.Decimal("1.10"), "is a Decimal (pass str(value))"),
        (uuid.UUID(int=5), "is a UUID (pass str(value))"),
    ],
)
def test_common_non_json_types_are_named_with_their_fix(value: Any, words: str) -> None:
    """Each common non-JSON type is refused with the path, what it is and how to pass it."""
    with pytest.raises(InvalidArguments, match=re.escape(f"args[0] {words}")) as info:
        check_json(value, "args[0]")
    assert "does not survive a JSON round trip" in str(info.value)


def test_message_lists_what_may_be_passed() -> None:
    """The refusal ends with the list of types that are allowed."""
    with pytest.raises(
        InvalidArguments,
        match=re.escape("pass only str, int, float, bool, None, lists and dicts with str keys."),
    ):
        check_json({1}, "kwargs['x']")


def test_arbitrary_object_is_named_by_its_qualified_type() -> None:
    """An arbitrary object is named by module and qualified class name, plus its repr."""
    with pytest.raises(
        InvalidArguments,
        match=r"args\[0\] is an object of type [\w.]*test_jsoncheck\.Opaque: <[\w.]*Opaque object",
    ):
        check_json(Opaque(), "args[0]")


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        (Color.RED, "Color"),
        (Name("alice"), "Name"),
        (collections.OrderedDict(a=1), "OrderedDict"),
        (collections.defaultdict(list), "defaultdict"),
    ],
)
def test_subclasses_of_json_types_are_refused(value: Any, type_name: str) -> None:
    """An IntEnum, a str subclass or a dict subclass would reach the worker as the base type."""
    with pytest.raises(
        InvalidArguments, match=rf"args\[0\] is an object of type [\w.]*{type_name}"
    ):
        check_json(value, "args[0]")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_floats_are_refused(value: float) -> None:
    """NaN and the infinities are not JSON; the float is shown in the message."""
    with pytest.raises(InvalidArguments, match=re.escape(f"args[0] is the float {value!r}")):
        check_json(value, "args[0]")


def test_nested_path_points_at_the_offending_item() -> None:
    """The path names every list index and dict key down to the bad value."""
    value = {"outer": [0, {"inner": {1, 2}}]}
    with pytest.raises(
        InvalidArguments, match=re.escape("kwargs['data']['outer'][1]['inner'] is a set")
    ):
        check_json(value, "kwargs['data']")


def test_non_str_dict_key_names_key_type_and_fix() -> None:
    """An int dict key is refused, saying it would come back as a str and to convert the keys."""
    with pytest.raises(
        InvalidArguments,
        match=re.escape(
            "args[0] has the key 1 of type int; JSON object keys must be str, and this one would "
            "come back as '1'. Convert the keys to str."
        ),
    ):
        check_json({1: "one"}, "args[0]")


def test_none_dict_key_message_says_what_json_really_returns() -> None:
    """A None key comes back from JSON as 'null', and the message must say so."""
    with pytest.raises(InvalidArguments, match="would come back as 'null'"):
        check_json({None: 1}, "args[0]")


def test_long_reprs_are_shortened() -> None:
    """A huge offending value is cut to a short repr ending in an ellipsis."""
    with pytest.raises(InvalidArguments) as info:
        check_json(set(range(1000)), "args[0]")
    message = str(info.value)
    assert "..." in message
    assert "999" not in message
    assert len(message) < 300


def test_invalid_arguments_is_a_queue_error_and_type_error() -> None:
    """InvalidArguments can be caught as QueueError and as TypeError."""
    with pytest.raises(InvalidArguments) as info:
        check_json(object(), "args[0]")
    assert isinstance(info.value, QueueError)
    assert isinstance(info.value, TypeError)


def test_check_call_accepts_list_or_tuple_args_and_dict_kwargs() -> None:
    """A list or tuple of positional args and a dict of keyword args pass."""
    check_call([1, "a"], {"k": [1]})
    check_call((1, "a"), {})


def test_check_call_names_the_first_bad_positional_argument() -> None:
    """The first non-JSON positional argument is named by its index."""
    with pytest.raises(InvalidArguments, match=re.escape("args[2] is bytes")):
        check_call([1, "ok", b"x", {1}], {})


def test_check_call_names_the_bad_keyword_argument() -> None:
    """A non-JSON keyword argument is named by its keyword."""
    with pytest.raises(InvalidArguments, match=re.escape("kwargs['when'] is a date")):
        check_call([], {"when": dt.date(2024, 1, 1)})


@pytest.mark.parametrize("args", ["abc", {"a": 1}, 5, None])
def test_check_call_refuses_args_that_are_not_a_sequence(args: Any) -> None:
    """args must be a list or tuple; the message shows what was passed and the fix."""
    with pytest.raises(
        InvalidArguments,
        match=re.escape(
            f"args must be a list or tuple of positional arguments, got {args!r}; pass args=[...]."
        ),
    ):
        check_call(args, {})


@pytest.mark.parametrize("kwargs", [[("a", 1)], "k=v", None])
def test_check_call_refuses_kwargs_that_are_not_a_dict(kwargs: Any) -> None:
    """kwargs must be a dict; the message shows what was passed and the fix."""
    with pytest.raises(
        InvalidArguments,
        match=re.escape(
            f"kwargs must be a dict of keyword arguments, got {kwargs!r}; pass kwargs={{...}}."
        ),
    ):
        check_call([], kwargs)


def test_check_call_refuses_non_str_keyword_names() -> None:
    """A keyword name that is not a str is refused, naming it."""
    with pytest.raises(
        InvalidArguments, match=re.escape("kwargs has the non-str key 3; keyword names are str.")
    ):
        check_call([], {3: "x"})
