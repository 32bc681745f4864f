from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from tools.models import ToolConfig
from tools.registry import registry


@receiver([post_save, post_delete], sender=ToolConfig)
def tool_config_changed(**kwargs: object) -> None:
    # A disabled tool disappears from tools/list: tell connected clients once it is saved.
    transaction.on_commit(registry.notify_changed)
