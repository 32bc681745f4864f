from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from tools.federation import approvals, oauth
from tools.federation.models import RemoteServer, validate_headers
from tools.federation.pool import describe
from tools.federation.secrets import Sealed
from tools.federation.services import (
    FederationError,
    remote_server_approve,
    remote_server_check,
    remote_server_held_tools,
    remote_server_sign_in,
    remote_server_sign_in_waiting,
    remote_server_signed_in,
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
    oauth_client_secret = forms.CharField(
        label="OAuth client secret",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Only for a client registered by hand. Stored encrypted; leave empty to keep it.",
    )
    forget_oauth = forms.BooleanField(
        required=False, label="Forget the OAuth sign-in", help_text="Drops the stored tokens and client registration."
    )

    class Meta:
        model = RemoteServer
        # The model's secret columns are not among them: the form's own write-only fields
        # of those names stand in, and save() writes them (see RemoteServerAdmin.exclude).
        fields = (
            "name", "enabled", "transport", "url", "command", "headers", "oauth", "oauth_client_id",
            "timeout", "max_connections", "allowed_tools", "denied_tools", "auto_approve",
        )

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
        if self.cleaned_data.get("oauth_client_secret"):
            server.oauth_client_secret = self.cleaned_data["oauth_client_secret"]
        if self.cleaned_data.get("forget_oauth") or not server.oauth:
            server.oauth_credentials = {}
        if commit:
            server.save()
            self.save_m2m()  # set by super().save(commit=False)
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
    readonly_fields = (
        "held_changes", "oauth_state", "secret_state", "secret_headers_state", "healthy", "last_error",
        "last_checked", "last_synced", "protocol_version", "tool_list",
    )
    # The model's secret columns: never put in the form as they are (so never shown, nor
    # overwritten by an empty field); RemoteServerForm's write-only fields replace them.
    exclude = ("secret", "secret_headers", "oauth_client_secret")
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
        (
            "OAuth sign-in",
            {"fields": ("oauth", "oauth_state", "oauth_client_id", "oauth_client_secret", "forget_oauth")},
        ),
        ("Limits", {"fields": ("timeout", "max_connections")}),
        ("Tools", {"fields": ("allowed_tools", "denied_tools", "auto_approve", "held_changes")}),
        (
            "Status",
            {"fields": ("healthy", "last_error", "last_checked", "last_synced", "protocol_version", "tool_list")},
        ),
    )

    @admin.display(description="signed in")
    def oauth_state(self, obj: RemoteServer) -> str:
        credentials = obj.oauth_credentials
        if isinstance(credentials, Sealed):
            return "tokens stored, but no configured key opens them: connect again"
        if not obj.oauth:
            return "-"
        if not obj.oauth_connected:
            return "not yet: save, then press Connect above"
        expires = credentials.get("expires_at")
        refresh = (
            "refreshed on its own"
            if credentials["tokens"].get("refresh_token")
            else "no refresh token: connect again when it expires"
        )
        if expires:
            return f"yes (token valid until {datetime.fromtimestamp(expires, UTC):%Y-%m-%d %H:%M} UTC; {refresh})"
        return f"yes ({refresh})"

    # --- OAuth sign-in: the Connect button and the browser's return

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:object_id>/connect/",
                self.admin_site.admin_view(self.connect_view),
                name="federation_remoteserver_connect",
            ),
            path(
                "oauth/callback/",
                self.admin_site.admin_view(self.oauth_callback_view),
                name="federation_remoteserver_oauth_callback",
            ),
            *super().get_urls(),
        ]

    def _change_url(self, server_id: int) -> str:
        return reverse("admin:federation_remoteserver_change", args=[server_id])

    @staticmethod
    def callback_url(request: HttpRequest) -> str:
        return request.build_absolute_uri(reverse("admin:federation_remoteserver_oauth_callback"))

    def connect_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        server = get_object_or_404(RemoteServer, pk=object_id)
        if not self.has_change_permission(request, server):
            raise PermissionDenied
        try:
            sign_in = remote_server_sign_in(
                server=server, redirect_uri=self.callback_url(request), started_by=request.user.pk
            )
            assert sign_in.flow is not None
            url = sign_in.next_url(oauth.DISCOVERY_SECONDS)
        except FederationError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(self._change_url(server.pk))
        except Exception as exc:
            self.message_user(request, f"{server.name}: signing in failed: {describe(exc)}", messages.ERROR)
            return HttpResponseRedirect(self._change_url(server.pk))
        if url is None:  # the server let the hub in without asking
            return self._signed_in(request, server)
        return HttpResponseRedirect(url)

    def oauth_callback_view(self, request: HttpRequest) -> HttpResponse:
        sign_in = remote_server_sign_in_waiting(state=request.GET.get("state", ""))
        if (
            sign_in is None
            or sign_in.flow is None
            or sign_in.server_id is None  # not started here (remote_server_sign_in sets it)
            or sign_in.started_by != request.user.pk
        ):
            self.message_user(
                request,
                "This sign-in is unknown here: it expired, was started by someone else, or by another web "
                "process of the hub. Press Connect again.",
                messages.ERROR,
            )
            return HttpResponseRedirect(reverse("admin:federation_remoteserver_changelist"))
        server_id = sign_in.server_id
        sign_in.give(dict(request.GET.lists()))
        try:
            # The token exchange, then either the end or another round (a server that moved
            # to another authorization server): the browser goes there next.
            url = sign_in.next_url(oauth.DISCOVERY_SECONDS)
            if url is not None:
                return HttpResponseRedirect(url)
        except TimeoutError:
            self.message_user(request, "The token exchange got no answer in time. Press Connect again.", messages.ERROR)
            return HttpResponseRedirect(self._change_url(server_id))
        except Exception as exc:
            self.message_user(request, f"Signing in failed: {describe(exc)}", messages.ERROR)
            return HttpResponseRedirect(self._change_url(server_id))
        return self._signed_in(request, RemoteServer.objects.get(pk=server_id))

    def _signed_in(self, request: HttpRequest, server: RemoteServer) -> HttpResponse:
        try:
            server = remote_server_signed_in(server=server)
        except FederationError as exc:
            self.message_user(request, f"Signed in, but {exc}", messages.WARNING)
        else:
            self.message_user(request, f"{server.name}: signed in; {len(server.tools)} tools synced.", messages.SUCCESS)
        return HttpResponseRedirect(self._change_url(server.pk))

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
