"""A privacyIDEA-style Flask app: QUEUEKIT_* keys in app.config, jobs on the global collector.

The spool directory comes from the environment, so the test and its worker process agree on it.
"""

from __future__ import annotations

import os

import flask

from queuekit import get_job_queue, job, register_app

#: The environment variable naming the spool directory (not QUEUEKIT_*, which the CLI reads).
SPOOL_ENV = "QK_TEST_FLASKAPP_SPOOL"


@job("flaskapp.app_name")
def app_name() -> str:
    """The name of the Flask app whose context the job runs in (fails outside any context)."""
    return flask.current_app.name


@job("flaskapp.follow_up")
def follow_up() -> str:
    """Enqueue app_name through the current app's queue; return the new job's id."""
    return get_job_queue().enqueue("flaskapp.app_name")


def create_app() -> flask.Flask:
    """Build the app and register it with queuekit, as privacyIDEA's create_app does."""
    app = flask.Flask(__name__)
    app.config["QUEUEKIT_BACKEND"] = "spool"
    app.config["QUEUEKIT_PATH"] = os.environ[SPOOL_ENV]
    register_app(app)
    return app
