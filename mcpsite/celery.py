"""The Celery app. Tasks live in ``executions/tasks.py`` and stay thin."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_init

from mcpsite import gctuning

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mcpsite.settings")

app = Celery("mcpsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _freeze_before_forking(**kwargs: object) -> None:
    # The worker has imported its tasks and is about to fork its pool's processes: they
    # share what it loaded, and their collections neither walk it nor copy it (gctuning).
    gctuning.tune_for_serving()
