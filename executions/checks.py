from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.compatibility)
def broker_needs_shared_channel_layer(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    """A worker in another process reaches the web processes through Redis: the execution
    events (``executions.events``, Redis pub/sub at REDIS_URL) and the shared channel layer.
    Without them its progress and results would be lost."""
    backend = settings.CHANNEL_LAYERS.get("default", {}).get("BACKEND", "")
    if not settings.CELERY_TASK_ALWAYS_EAGER and (not settings.REDIS_URL or backend.endswith("InMemoryChannelLayer")):
        return [
            checks.Error(
                "A real Celery broker is configured without Redis for execution events and the channel layer.",
                hint="Set REDIS_URL so that workers and web processes share Redis, "
                "or leave the broker unset to run background tools eagerly.",
                id="executions.E001",
            )
        ]
    return []
