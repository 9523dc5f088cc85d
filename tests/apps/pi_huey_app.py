"""A privacyIDEA-style Flask app on the huey backend: pi.cfg's PI_JOB_QUEUE_* keys, a job
collected with @job, sent through wrap_job from a request, run by `queuekit worker`.

The Redis URL and the outbox file come from the environment, so the test and its worker
process agree on them.
"""

from __future__ import annotations

import json
import os

import flask

from queuekit import job, register_app, wrap_job

URL_ENV = "QK_TEST_PI_HUEY_URL"
OUTBOX_ENV = "QK_TEST_PI_HUEY_OUTBOX"


@job("smtpserver.send_email")
def send_email(
    identifier: str,
    recipient: list[str],
    subject: str,
    body: str,
    sender: str | None = None,
    reply_to: str | None = None,
    mimetype: str = "plain",
) -> bool:
    """Deliver a mail the way privacyIDEA's SMTP job does; here the 'server' is an outbox file
    named in the app's config, so the job fails outside an app context."""
    app = flask.current_app
    mail = {"smtp": identifier, "to": recipient, "subject": subject, "body": body, "app": app.name}
    with open(app.config["PI_TEST_OUTBOX"], "a", encoding="utf-8") as outbox:
        outbox.write(json.dumps(mail) + "\n")
    return True


#: What privacyIDEA's smtpserver module does when an SMTP server is set to use the queue.
send_email_via_queue = wrap_job("smtpserver.send_email", True)


def create_app() -> flask.Flask:
    """privacyIDEA's create_app, reduced to the job queue: config, then register_app."""
    app = flask.Flask("privacyidea")
    app.config.update(
        PI_JOB_QUEUE_CLASS="queuekit_huey.HueyQueue",
        PI_JOB_QUEUE_URL=os.environ[URL_ENV],
        PI_JOB_QUEUE_NAME="privacyidea",
        PI_JOB_QUEUE_WORKERS=2,
        PI_TEST_OUTBOX=os.environ[OUTBOX_ENV],
    )
    register_app(app, prefix="PI_JOB_QUEUE_")

    @app.post("/validate/check")
    def check() -> dict[str, object]:
        sent = send_email_via_queue(
            "smtp1", [flask.request.json["email"]], "Your OTP", "Your OTP is 123456"
        )
        return {"result": {"status": True, "value": sent}}

    return app
