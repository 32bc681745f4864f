"""`python -m tests.executions.worker_main worker ...`: a real Celery worker (the same
app as `make worker`) with the test tool registered.

Guarded by ``__main__``: tool processes import the main module of their owner (the
multiprocessing rule), and must not start a worker of their own."""

from __future__ import annotations

import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mcpsite.settings")
django.setup()

from mcpsite.celery import app  # noqa: E402
from tests.executions.worker_tools import register  # noqa: E402

if __name__ == "__main__":
    register()
    app.worker_main(sys.argv[1:])
