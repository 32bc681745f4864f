from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from tools.federation.models import RemoteServer
from tools.federation.services import FederationError, remote_server_check, remote_server_sync


@admin.register(RemoteServer)
class RemoteServerAdmin(admin.ModelAdmin):
    list_display = ("name", "transport", "target", "enabled", "healthy", "tool_count", "protocol_version", "last_checked")
    list_filter = ("enabled", "transport", "healthy")
    search_fields = ("name", "url", "command")
    actions = ["test_connection", "sync_tools"]
    readonly_fields = ("healthy", "last_error", "last_checked", "last_synced", "protocol_version", "tool_list")
    fieldsets = (
        (None, {"fields": ("name", "enabled", "transport", "url", "command")}),
        ("Authentication", {"fields": ("headers", "secret")}),
        ("Limits", {"fields": ("timeout", "max_connections")}),
        ("Status", {"fields": ("healthy", "last_error", "last_checked", "last_synced", "protocol_version", "tool_list")}),
    )

    @admin.display(description="URL or command")
    def target(self, obj: RemoteServer) -> str:
        return obj.target

    @admin.display(description="tools")
    def tool_count(self, obj: RemoteServer) -> int:
        return len(obj.tools)

    @admin.display(description="tools (as callers see them)")
    def tool_list(self, obj: RemoteServer) -> str:
        # Kept listed while the server fails; callers are told they are unavailable.
        return ", ".join(obj.tool_names) or "-"

    @admin.action(description="Test connection")
    def test_connection(self, request: HttpRequest, queryset: QuerySet[RemoteServer]) -> None:
        for server in queryset:
            if not server.enabled:
                self.message_user(request, f"{server.name}: disabled; enable it to connect.", messages.WARNING)
                continue
            server = remote_server_check(server=server)
            if server.healthy:
                self.message_user(
                    request, f"{server.name}: connected ({server.protocol_version}, {len(server.tools)} tools).",
                    messages.SUCCESS,
                )
            else:
                self.message_user(request, f"{server.name}: {server.last_error}", messages.ERROR)

    @admin.action(description="Sync tools")
    def sync_tools(self, request: HttpRequest, queryset: QuerySet[RemoteServer]) -> None:
        for server in queryset:
            try:
                server = remote_server_sync(server=server)
            except FederationError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(request, f"{server.name}: {len(server.tools)} tools synced.", messages.SUCCESS)
