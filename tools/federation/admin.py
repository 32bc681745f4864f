from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from tools.federation.models import RemoteServer, validate_headers
from tools.federation.secrets import Sealed
from django.utils.html import format_html, format_html_join

from tools.federation import approvals
from tools.federation.services import (
    FederationError,
    remote_server_approve,
    remote_server_check,
    remote_server_held_tools,
    remote_server_sync,
)


class RemoteServerForm(forms.ModelForm):
    """Secrets are write-only: entered, replaced or cleared, never shown again."""

    secret = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Sent as 'Authorization: Bearer <secret>' (HTTP only). Stored encrypted; leave empty to keep it.",
    )
    clear_secret = forms.BooleanField(required=False, label="Remove the stored secret")
    secret_headers = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off"}),
        help_text="One 'Name: value' a line; values are stored encrypted. Leave empty to keep the stored ones.",
    )
    clear_secret_headers = forms.BooleanField(required=False, label="Remove the stored secret headers")

    class Meta:
        model = RemoteServer
        exclude = ("secret", "secret_headers")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial["secret_headers"] = ""

    def clean_secret_headers(self) -> dict[str, str] | None:
        text = self.cleaned_data.get("secret_headers") or ""
        if not text.strip():
            return None
        headers = {}
        for line in text.splitlines():
            if not line.strip():
                continue
            key, sep, value = line.partition(":")
            if not sep or not key.strip():
                raise ValidationError(f"Bad line {line.split(':')[0]!r}…; use 'Name: value'.")
            headers[key.strip()] = value.strip()
        validate_headers(headers)
        return headers

    def save(self, commit: bool = True) -> RemoteServer:
        server: RemoteServer = super().save(commit=False)
        if self.cleaned_data.get("clear_secret"):
            server.secret = ""
        elif self.cleaned_data.get("secret"):
            server.secret = self.cleaned_data["secret"]
        if self.cleaned_data.get("clear_secret_headers"):
            server.secret_headers = {}
        elif self.cleaned_data.get("secret_headers"):
            server.secret_headers = self.cleaned_data["secret_headers"]
        if commit:
            server.save()
            self._save_m2m()
        return server


def _secret_state(value: Any) -> str:
    if isinstance(value, Sealed):
        return "set, but no configured key opens it: enter it again"
    return "set (hidden)" if value else "not set"


@admin.register(RemoteServer)
class RemoteServerAdmin(admin.ModelAdmin):
    form = RemoteServerForm
    list_display = (
        "name", "transport", "target", "enabled", "healthy", "tool_count", "held_count", "protocol_version",
        "last_checked",
    )
    list_filter = ("enabled", "transport", "healthy")
    search_fields = ("name", "url", "command")
    actions = ["test_connection", "sync_tools", "approve_changes"]
    readonly_fields = ("held_changes", "secret_state", "secret_headers_state", "healthy", "last_error", "last_checked", "last_synced", "protocol_version", "tool_list")
    fieldsets = (
        (None, {"fields": ("name", "enabled", "transport", "url", "command")}),
        (
            "Authentication",
            {
                "fields": (
                    "headers", "secret_state", "secret", "clear_secret",
                    "secret_headers_state", "secret_headers", "clear_secret_headers",
                )
            },
        ),
        ("Limits", {"fields": ("timeout", "max_connections")}),
        ("Tools", {"fields": ("allowed_tools", "denied_tools", "auto_approve", "held_changes")}),
        ("Status", {"fields": ("healthy", "last_error", "last_checked", "last_synced", "protocol_version", "tool_list")}),
    )

    @admin.display(description="stored secret")
    def secret_state(self, obj: RemoteServer) -> str:
        return _secret_state(obj.secret)

    @admin.display(description="stored secret headers")
    def secret_headers_state(self, obj: RemoteServer) -> str:
        if isinstance(obj.secret_headers, Sealed) or not obj.secret_headers:
            return _secret_state(obj.secret_headers)
        return ", ".join(sorted(obj.secret_headers)) + " (values hidden)"

    @admin.display(description="held")
    def held_count(self, obj: RemoteServer) -> int:
        return len(remote_server_held_tools(server=obj))

    @admin.display(description="changed tool definitions (held until approved)")
    def held_changes(self, obj: RemoteServer) -> str:
        held = remote_server_held_tools(server=obj)
        if not held:
            return "-"
        offered = {t.get("name"): t for t in obj.tools if isinstance(t, dict)}
        return format_html_join(
            "",
            "<p><strong>{}__{}</strong> ({})</p><pre>{}</pre>",
            (
                (obj.name, name, ", ".join(fields),
                 approvals.diff_text(obj.approved_tools[name], approvals.definition(offered[name])))
                for name, fields in held.items()
            ),
        ) + format_html("<p>{}</p>", 'Approve them with the action "Approve changed tool definitions".')

    @admin.action(description="Approve changed tool definitions")
    def approve_changes(self, request: HttpRequest, queryset: QuerySet[RemoteServer]) -> None:
        for server in queryset:
            approved = remote_server_approve(server=server)
            if approved:
                self.message_user(
                    request, f"{server.name}: approved {', '.join(approved)}; callable again.", messages.SUCCESS
                )
            else:
                self.message_user(request, f"{server.name}: no changed tools to approve.", messages.INFO)

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
