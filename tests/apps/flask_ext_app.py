"""A Flask app built by a factory with the QueueKit extension; the queue file comes from the
environment so the test and the `flask queuekit worker` process agree on it."""

from __future__ import annotations

import os

import flask

from queuekit import job
from queuekit.flask import QueueKit

#: The environment variable naming the sqlite queue file (not QUEUEKIT_*, which the CLI reads).
DB_ENV = "QK_TEST_FLASK_EXT_DB"

queuekit_ext = QueueKit()


@job("flaskext.greet")
def greet(name: str) -> str:
    """A greeting built from the app's config: fails outside an app context."""
    app = flask.current_app
    return f"{app.config['GREETING']}, {name}, from {app.name}"


def create_app(database: str | None = None, greeting: str = "Hello") -> flask.Flask:
    """The application factory: config, then ``queuekit_ext.init_app(app)``."""
    app = flask.Flask("shop")
    app.config["QUEUEKIT_BACKEND"] = "sqlite"
    app.config["QUEUEKIT_PATH"] = database or os.environ[DB_ENV]
    app.config["GREETING"] = greeting
    queuekit_ext.init_app(app)

    @app.post("/greet/<name>")
    def enqueue_greeting(name: str) -> dict[str, str]:
        return {"job": greet.enqueue(name).id}

    return app
