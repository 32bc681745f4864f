from __future__ import annotations

import json

from django.contrib import admin
from django.urls import reverse
from django.utils import formats
from django.utils.html import format_html, format_html_join

from executions.models import Session, ToolExecution
from tools.base import Mode
from tools.federation.models import RemoteServer


def _pretty_json(value: object) -> str:
    return format_html("<pre style='white-space: pre-wrap; max-height: 30em; overflow: auto'>{}</pre>",
                       json.dumps(value, indent=2, ensure_ascii=False))


class ReadOnlyAdmin(admin.ModelAdmin):
    """Execution records are history: the admin shows them, nobody edits them."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class _KnownValuesFilter(admin.SimpleListFilter):
    """A filter whose choices are known without reading the executions: Django's own
    filter for a field without choices runs SELECT DISTINCT over the whole table."""

    parameter_name: str  # each subclass names its field

    def queryset(self, request, queryset):
        value = self.value()
        return queryset if value is None else queryset.filter(**{self.parameter_name: value})


class ModeFilter(_KnownValuesFilter):
    title = "mode"
    parameter_name = "mode"

    def lookups(self, request, model_admin):
        return [(mode.value, mode.value) for mode in Mode]


class ServerFilter(_KnownValuesFilter):
    title = "server"
    parameter_name = "server"

    def lookups(self, request, model_admin):
        names = RemoteServer.objects.order_by("name").values_list("name", flat=True)
        return [("", "built-in"), *((name, name) for name in names)]


# How many of an execution's sub-calls its page shows; the rest are a link away.
CHILDREN_SHOWN = 20


@admin.register(ToolExecution)
class ToolExecutionAdmin(ReadOnlyAdmin):
    list_display = ("created", "tool_name", "status", "via", "user", "duration_ms", "cache_hit", "server")
    list_filter = (
        "status", "via", "tool_name", "cache_hit", ModeFilter, ServerFilter, ("created", admin.DateFieldListFilter)
    )
    show_full_result_count = False  # a second COUNT of the whole history on every filtered page
    search_fields = ("id", "tool_name", "user__username", "error")
    # No date_hierarchy: its year/month links truncate every row's date, which at a
    # hundred thousand rows made the list slow; the created filter covers the same need.
    list_select_related = ("user",)
    readonly_fields = (
        "id", "tool_name", "server", "status", "via", "mode", "user", "session", "cache_hit", "duration_ms",
        "created", "started", "finished", "progress", "progress_total", "progress_message", "error",
        "arguments_pretty", "result_pretty", "parent_link", "children_list",
    )
    exclude = ("arguments", "result")

    @admin.display(description="parent")
    def parent_link(self, obj: ToolExecution) -> str:
        if obj.parent_id is None:
            return "-"
        return format_html("<a href='{}'>{}</a>", reverse("admin:executions_toolexecution_change",
                                                          args=[obj.parent_id]), obj.parent_id)

    @admin.display(description="sub-calls")
    def children_list(self, obj: ToolExecution) -> str:
        """The first sub-calls and a link to all: a document analysis makes several per
        section, which an inline would render on one page."""
        children = list(
            obj.children.order_by("created").only("id", "parent_id", "created", "tool_name", "status", "duration_ms")
            [:CHILDREN_SHOWN + 1]
        )
        if not children:
            return "None."
        rows = format_html_join(
            "", "<tr><td><a href='{}'>{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (reverse("admin:executions_toolexecution_change", args=[c.pk]), formats.localize(c.created),
                 c.tool_name, c.get_status_display(), "" if c.duration_ms is None else f"{c.duration_ms} ms")
                for c in children[:CHILDREN_SHOWN]
            ),
        )
        everything = reverse("admin:executions_toolexecution_changelist") + f"?parent__exact={obj.pk}"
        more = "All sub-calls of this execution" if len(children) > CHILDREN_SHOWN else "These sub-calls as a list"
        return format_html(
            "<table><thead><tr><th>created</th><th>tool</th><th>status</th><th>duration</th></tr>"
            "</thead><tbody>{}</tbody></table><p><a href='{}'>{}</a></p>",
            rows, everything, more,
        )

    @admin.display(description="arguments")
    def arguments_pretty(self, obj: ToolExecution) -> str:
        return _pretty_json(obj.arguments)

    @admin.display(description="result")
    def result_pretty(self, obj: ToolExecution) -> str:
        return _pretty_json(obj.result)


# How many of a session's executions its page shows; the rest are a link away.
SESSION_PAGE_EXECUTIONS = 20


@admin.register(Session)
class SessionAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "user", "created", "last_activity", "ended")
    list_filter = ("kind", ("created", admin.DateFieldListFilter))
    search_fields = ("id", "user__username")
    list_select_related = ("user",)
    readonly_fields = ("id", "kind", "user", "client_info", "created", "last_activity", "ended", "data",
                       "latest_executions")

    @admin.display(description="executions")
    def latest_executions(self, obj: Session) -> str:
        """The latest executions and a link to all of them: a stateless client's session may
        hold a hundred thousand, which an inline would render on one page."""
        executions = obj.executions.order_by("-created")
        latest = list(executions.only("id", "session_id", "created", "tool_name", "status", "via", "duration_ms")
                      [:SESSION_PAGE_EXECUTIONS])
        if not latest:
            return "None."
        total = obj.execution_count
        rows = format_html_join(
            "", "<tr><td><a href='{}'>{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (reverse("admin:executions_toolexecution_change", args=[e.pk]), formats.localize(e.created),
                 e.tool_name, e.get_status_display(), e.get_via_display(),
                 "" if e.duration_ms is None else f"{e.duration_ms} ms")
                for e in latest
            ),
        )
        everything = reverse("admin:executions_toolexecution_changelist") + f"?session__exact={obj.pk}"
        return format_html(
            "<table><thead><tr><th>created</th><th>tool</th><th>status</th><th>via</th><th>duration</th></tr>"
            "</thead><tbody>{}</tbody></table><p><a href='{}'>All {} executions of this session</a></p>",
            rows, everything, total,
        )
