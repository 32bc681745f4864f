from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html

from executions.models import Session, ToolExecution


def _pretty_json(value: object) -> str:
    return format_html("<pre style='white-space: pre-wrap; max-height: 30em; overflow: auto'>{}</pre>",
                       json.dumps(value, indent=2, ensure_ascii=False))


class ReadOnlyAdmin(admin.ModelAdmin):
    """Execution records are history: the admin shows them, nobody edits them."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ToolExecution)
class ToolExecutionAdmin(ReadOnlyAdmin):
    list_display = ("created", "tool_name", "status", "via", "user", "duration_ms", "cache_hit", "server")
    list_filter = ("status", "via", "tool_name", "cache_hit", "mode", "server", ("created", admin.DateFieldListFilter))
    search_fields = ("id", "tool_name", "user__username", "error")
    date_hierarchy = "created"
    list_select_related = ("user",)
    readonly_fields = (
        "id", "tool_name", "server", "status", "via", "mode", "user", "session", "cache_hit", "duration_ms",
        "created", "started", "finished", "progress", "progress_total", "progress_message", "error",
        "arguments_pretty", "result_pretty",
    )
    exclude = ("arguments", "result")

    @admin.display(description="arguments")
    def arguments_pretty(self, obj: ToolExecution) -> str:
        return _pretty_json(obj.arguments)

    @admin.display(description="result")
    def result_pretty(self, obj: ToolExecution) -> str:
        return _pretty_json(obj.result)


class ExecutionInline(admin.TabularInline):
    model = ToolExecution
    fields = ("created", "tool_name", "status", "via", "duration_ms")
    readonly_fields = fields
    extra = 0
    max_num = 0
    show_change_link = True
    ordering = ("-created",)


@admin.register(Session)
class SessionAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "user", "created", "last_activity", "ended")
    list_filter = ("kind", ("created", admin.DateFieldListFilter))
    search_fields = ("id", "user__username")
    list_select_related = ("user",)
    readonly_fields = ("id", "kind", "user", "client_info", "created", "last_activity", "ended", "data")
    inlines = [ExecutionInline]
