from __future__ import annotations

from django.db import models


class ToolConfig(models.Model):
    """Operator overrides for one tool, edited in the admin. No row means defaults."""

    tool_name = models.CharField(max_length=200, unique=True)
    enabled = models.BooleanField(default=True)
    timeout_seconds = models.FloatField(null=True, blank=True, help_text="Overrides the tool's timeout.")
    rate_limit = models.CharField(
        max_length=32,
        blank=True,
        help_text='Calls per user, like "10/m", "100/h" or "1000/d". Blank uses TOOL_RATE_LIMIT.',
    )
    cache_ttl_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Overrides the cache TTL of a cacheable tool (0 turns caching off)."
    )
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tool_name"]
        verbose_name = "tool configuration"

    def __str__(self) -> str:
        return self.tool_name
