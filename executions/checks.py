from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.compatibility)
def broker_needs_shared_channel_layer(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    """A worker in another process cannot reach an in-memory channel layer: its events would be lost."""
    backend = settings.CHANNEL_LAYERS.get("default", {}).get("BACKEND", "")
    if not settings.CELERY_TASK_ALWAYS_EAGER and backend.endswith("InMemoryChannelLayer"):
        return [
            checks.Error(
                "A real Celery broker is configured with the in-memory channel layer.",
                hint="Set REDIS_URL so that workers and web processes share the channel layer, "
                "or leave the broker unset to run background tools eagerly.",
                id="executions.E001",
            )
        ]
    return []
