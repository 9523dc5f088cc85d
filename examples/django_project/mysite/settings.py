"""The example project: SQLite for the app's data, and a queue picked by QUEUEKIT_BACKEND and
QUEUEKIT_URL (default: the embedded sqlite backend in a file beside the database)."""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(os.environ.get("EXAMPLE_DATA_DIR", Path(__file__).resolve().parent.parent))

SECRET_KEY = "queuekit-example-only"
DEBUG = True
ALLOWED_HOSTS = ["*"]
USE_TZ = True
ROOT_URLCONF = "mysite.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = ["django.contrib.contenttypes", "queuekit.contrib.django", "store"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "app.sqlite3",
        "OPTIONS": {"timeout": 30},
    }
}

QUEUEKIT = {
    "default": {
        "BACKEND": os.environ.get("QUEUEKIT_BACKEND", "sqlite"),
        "OPTIONS": {"url": os.environ.get("QUEUEKIT_URL", f"sqlite:///{BASE_DIR / 'jobs.db'}")},
        "QUEUES": ["default"],
    }
}
