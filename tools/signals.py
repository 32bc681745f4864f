from __future__ import annotations

from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from mcpsite import processcache
from tools.models import ToolConfig
from tools.registry import registry


@receiver([post_save, post_delete], sender=ToolConfig)
def tool_config_changed(**kwargs: object) -> None:
    # Every process reads tool configurations from its cache: empty it everywhere.
    processcache.invalidate()
    # A disabled tool disappears from tools/list: tell connected clients once it is saved.
    transaction.on_commit(registry.notify_changed)


@receiver(m2m_changed, sender=ToolConfig.groups.through)
def tool_config_groups_changed(action: str, **kwargs: object) -> None:
    # Who may see a tool changed: clients re-list (each sees only its own tools).
    if action in ("post_add", "post_remove", "post_clear"):
        processcache.invalidate()
        transaction.on_commit(registry.notify_changed)
