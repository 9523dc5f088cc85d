"""Fault suite, part 4: bad input at enqueue is refused in the caller's process on every backend,
with a typed error naming the value and the fix, and nothing reaches the broker."""

from __future__ import annotations

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


@pytest.mark.parametrize("backend", backend_params())
def test_bad_input_is_refused_whole_with_the_fix(backend: faults.Backend, tmp_path: Path) -> None:
    """Unknown job and queue, non-JSON args, an oversized payload, an unknown or unsupported
    option and a naive eta each raise a QueueError naming the value and the fix; the broker's
    queue length does not change (a batch with one bad call sends none)."""
    if backend.module is not None:
        pytest.importorskip(backend.module)
    results = faults.bad_input(backend, parent=tmp_path)
    assert {r.case for r in results} >= {
        "unknown job",
        "unknown queue",
        "non-JSON argument",
        "payload over max_payload_bytes",
        "unknown option",
        "naive datetime eta",
        "one bad call in a batch",
    }
    problems = [p for r in results for p in r.problems()]
    assert problems == []


def test_decoded_message_over_the_size_limit_is_refused() -> None:
    """An envelope a broker already decoded (huey, rq) is measured against max_payload_bytes."""
    envelope = Envelope(job="faults.record", args=["x" * 5000])
    with pytest.raises(InvalidMessage, match=r"over max_payload_bytes=4,096"):
        Envelope.decode(envelope.to_dict(), Codec(None, 4096))
    assert Envelope.decode(envelope.to_dict(), Codec(None, 0)).args == ["x" * 5000]


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_enqueue_time_is_refused(value: float) -> None:
    """NaN or Infinity in an already-decoded message is refused, not run into a crash later."""
    data = {**Envelope(job="faults.record").to_dict(), "enqueued_at": value}
    with pytest.raises(InvalidMessage, match="'enqueued_at' must be a number"):
        Envelope.decode(data)
