"""An app without a factory: it registers a plain mapping when imported (`--app tests.apps.plainapp`)."""

from __future__ import annotations

import os

from queuekit import job, register_app

SPOOL_ENV = "QK_TEST_PLAINAPP_SPOOL"


@job("plainapp.shout")
def shout(text: str) -> str:
    """Upper-case ``text``."""
    return text.upper()


register_app({"QUEUEKIT_BACKEND": "spool", "QUEUEKIT_PATH": os.environ[SPOOL_ENV]})
