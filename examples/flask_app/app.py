"""A privacyIDEA-style Flask app: a mail job collected at import time, the queue configured in
``create_app`` from QUEUEKIT_* settings, and a view that sends mail through the queue.

    flask --app app:create_app queuekit worker     # the worker (jobs run in the app context)
    flask --app app:create_app run                 # the web app: POST /mail?to=alice@example.org

QUEUEKIT_BACKEND / QUEUEKIT_URL in the environment pick the engine (default: sqlite in this
directory); the job code never changes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from flask import Flask, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from queuekit import get_job_queue, has_job_queue, job
from queuekit.flask import QueueKit

HERE = Path(__file__).resolve().parent

queuekit_ext = QueueKit()


@job("smtpserver.send_email")
def send_email(recipient: str, subject: str, body: str) -> str:
    """Deliver one mail. Here "delivery" appends it to the app's MAIL_SPOOL file, which stands in
    for the SMTP server; a real app would talk SMTP here."""
    spool = Path(current_app.config["MAIL_SPOOL"])
    with spool.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"to": recipient, "subject": subject, "pid": os.getpid()}) + "\n")
    return f"sent to {recipient}"


def send_or_enqueue(recipient: str, subject: str, body: str) -> str:
    """privacyIDEA's pattern: through the queue when one is configured, inline otherwise."""
    if has_job_queue():
        return get_job_queue().enqueue("smtpserver.send_email", (recipient, subject, body))
    return send_email(recipient, subject, body)


def create_app() -> Flask:
    """The application factory; the queue settings come from QUEUEKIT_* variables."""
    app = Flask("mailer")
    app.config["QUEUEKIT_BACKEND"] = "sqlite"
    app.config["QUEUEKIT_URL"] = f"sqlite:///{HERE / 'jobs.db'}"
    app.config["MAIL_SPOOL"] = os.environ.get("MAIL_SPOOL", str(HERE / "sent-mail.jsonl"))
    for key, value in os.environ.items():
        if key.startswith("QUEUEKIT_"):
            app.config[key] = value
    queuekit_ext.init_app(app)  # the same as privacyIDEA's register_app(app), plus `flask queuekit`

    @app.post("/mail")
    def mail() -> ResponseReturnValue:
        recipient = request.args["to"]
        job_id = send_or_enqueue(recipient, "Your one-time password", "123456")
        return jsonify(job=job_id)

    @app.get("/jobs/<job_id>")
    def job_state(job_id: str) -> ResponseReturnValue:
        result = get_job_queue().get_result(job_id)
        return jsonify(status=str(result.status), value=result.return_value)

    return app
