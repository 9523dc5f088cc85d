"""Fault suite, part 5: malformed, truncated, wrong-version, unregistered-job and oversized
messages written straight into each broker are set aside with their reason while valid jobs
keep flowing (CI: 200 per backend; ``python -m tests.faults --full``: 1,000)."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import pytest

from queuekit.envelope import Envelope
from queuekit.exceptions import InvalidMessage
from queuekit.signing import Codec
from tests import faults

pytestmark = pytest.mark.faults


def backend_params() -> list[object]:
    return [
        pytest.param(b, id=name, marks=[getattr(pytest.mark, s) for s in b.services])
        for name, b in faults.BACKENDS.items()
    ]


def test_generated_messages_cover_every_category_and_are_all_invalid() -> None:
    """The generator yields equal shares of the five categories, and the envelope decoder
    refuses every one of them (unregistered jobs are refused later, by the runtime)."""
    messages = faults.bad_messages(1000, "/tmp/never")
    shares = collections.Counter(category for category, _ in messages)
    assert shares == {category: 200 for category in faults.CATEGORIES}
    codec = Codec(None, faults.SMALL_LIMIT)
    for category, data in messages:
        if category == "unregistered-job":
            assert Envelope.decode(data, codec).job != faults.RECORD
            continue
        with pytest.raises(InvalidMessage):
            Envelope.decode(data, codec)
    ids = [json.loads(d)["id"] for c, d in messages if c in ("wrong-version", "oversized")]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("backend", backend_params())
def test_bad_messages_are_set_aside_and_valid_jobs_flow(
    backend: faults.Backend, tmp_path: Path
) -> None:
    """200 bad messages with a valid job after every ten: the worker stays up, every valid
    job runs once, every bad message is in the failed store with reason 'rejected'."""
    if backend.module is not None:
        pytest.importorskip(backend.module)
    result = faults.messages(backend, count=200, parent=tmp_path)
    print(f"\n{result}")
    assert result.problems() == []
    assert result.valid_ran == result.valid == 20 and result.set_aside == 200
    assert set(result.reasons) == {"rejected: InvalidMessage", "rejected: UnknownJob"}
    assert result.reasons["rejected: UnknownJob"] == 40
