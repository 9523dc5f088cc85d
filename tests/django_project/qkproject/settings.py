"""A small Django project on PostgreSQL: the database and the queue file come from the
environment, so the test and its manage.py processes agree on them."""

from __future__ import annotations

import os

SECRET_KEY = "queuekit-test-project"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
ROOT_URLCONF = "qkproject.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "queuekit.contrib.django",
    "shop",
]

_PG = {
    "ENGINE": "django.db.backends.postgresql",
    "NAME": os.environ["QK_DJANGO_DB"],
    "USER": "postgres",
    "HOST": "127.0.0.1",
    "PORT": "5432",
}
# Two aliases on one database: two connections, two independent transactions.
DATABASES = {"default": _PG, "other": dict(_PG)}

QUEUEKIT = {
    "default": {
        "BACKEND": os.environ.get("QK_DJANGO_BACKEND", "sqlite"),
        "OPTIONS": {"path": os.environ["QK_DJANGO_QUEUE"]},
        "QUEUES": ["default", "mail"],
    },
    "fast": {"BACKEND": "memory", "OPTIONS": {"mode": "immediate"}},
}
