"""Test tools: a recording fake queue for application tests, and (in ``conformance``) the suite
every backend passes. ``queuekit.testing.conformance`` needs pytest; this package does not."""

from .fake import FakeQueue, fake_queue

__all__ = ["FakeQueue", "fake_queue"]
