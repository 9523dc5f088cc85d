"""The Django app: autodiscovers ``jobs`` modules, then builds the queues of settings.QUEUEKIT."""

from __future__ import annotations

from django.apps import AppConfig  # type: ignore[import-untyped]


class QueueKitConfig(AppConfig):  # type: ignore[misc]
    name = "queuekit.contrib.django"
    label = "queuekit"
    verbose_name = "queuekit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings  # type: ignore[import-untyped]
        from django.utils.module_loading import (  # type: ignore[import-untyped]
            autodiscover_modules,
        )

        from . import SETTING, setup

        autodiscover_modules("jobs")
        setup(getattr(settings, SETTING, None))
