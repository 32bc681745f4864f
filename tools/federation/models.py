"""A remote MCP server whose tools the hub offers under ``<name>__<tool>``."""

from __future__ import annotations

import fnmatch
import shlex
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models

from tools.federation.secrets import EncryptedJSONField, EncryptedTextField, Sealed

NAME_RE = r"^[A-Za-z0-9](?:[A-Za-z0-9-]|_(?!_))*$"


def validate_headers(value: Any) -> None:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValidationError('Headers must be a JSON object of strings, like {"X-Api-Key": "..."}.')
    for key in value:
        if not key or any(c in key for c in " :\r\n") or any(c in value[key] for c in "\r\n"):
            raise ValidationError(f"Bad header {key!r}.")


def validate_patterns(value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(p, str) and p.strip() for p in value):
        raise ValidationError('A JSON list of tool names or patterns, like ["search", "read_*"].')


def tool_offered(name: str, *, allowed: list[str], denied: list[str]) -> bool:
    if any(fnmatch.fnmatchcase(name, p) for p in denied):
        return False
    return not allowed or any(fnmatch.fnmatchcase(name, p) for p in allowed)


class RemoteServer(models.Model):
    class Transport(models.TextChoices):
        STREAMABLE_HTTP = "streamable_http", "Streamable HTTP"
        STDIO = "stdio", "stdio (local command)"

    name = models.CharField(
        max_length=64,
        unique=True,
        validators=[
            RegexValidator(
                NAME_RE,
                "Letters, digits, single '_' and '-' only (its tools are named <name>__<tool>).",
            )
        ],
    )
    transport = models.CharField(max_length=20, choices=Transport.choices, default=Transport.STREAMABLE_HTTP)
    url = models.URLField(max_length=500, blank=True, help_text="Streamable HTTP endpoint, e.g. https://host/mcp.")
    command = models.CharField(
        max_length=1000, blank=True, help_text="For stdio: the command and its arguments, as in a shell."
    )
    headers = models.JSONField(
        default=dict, blank=True, validators=[validate_headers], help_text="Extra HTTP headers sent to the server."
    )
    # Stored encrypted (tools.federation.secrets); the admin never shows them again.
    secret = EncryptedTextField(
        blank=True, help_text="Sent as 'Authorization: Bearer <secret>' (HTTP only). Stored encrypted."
    )
    secret_headers = EncryptedJSONField(
        blank=True, default=dict, validators=[validate_headers],
        help_text="HTTP headers whose values are secret (API keys). Stored encrypted.",
    )
    # OAuth 2.1 sign-in (tools.federation.oauth): the hub gets its own tokens from the
    # server's authorization server, once an operator has connected it.
    oauth = models.BooleanField(
        "sign in with OAuth", default=False,
        help_text="The server wants an OAuth sign-in: save, then press Connect (HTTP only).",
    )
    oauth_client_id = models.CharField(
        "OAuth client ID", max_length=500, blank=True,
        help_text="Only for a client registered by hand at the authorization server; empty: the hub registers itself.",
    )
    oauth_client_secret = EncryptedTextField(
        "OAuth client secret", blank=True, help_text="The secret of that client, if it has one. Stored encrypted."
    )
    # Tokens, their expiry and the client registration, as JSON; stored encrypted.
    oauth_credentials = EncryptedJSONField(blank=True, default=dict, editable=False)
    enabled = models.BooleanField(default=True)
    timeout = models.FloatField(default=30.0, validators=[MinValueValidator(0.1)], help_text="Seconds per call.")
    max_connections = models.PositiveSmallIntegerField(
        "pool size", default=4, validators=[MinValueValidator(1)], help_text="Open sessions at most."
    )

    # Per-server tool policy: fnmatch patterns of remote tool names ("read_*"). An empty
    # allow list allows all; the deny list wins.
    allowed_tools = models.JSONField(
        default=list, blank=True, validators=[validate_patterns],
        help_text='Only these remote tools are offered (patterns like "read_*"); empty: all.',
    )
    denied_tools = models.JSONField(
        default=list, blank=True, validators=[validate_patterns],
        help_text="These remote tools are never offered (patterns); wins over the allow list.",
    )
    auto_approve = models.BooleanField(
        default=False,
        help_text="Accept changed tool definitions without review (still logged). Off: a changed tool is held.",
    )
    # The definitions (name, description, schemas, annotations) an admin accepted, by
    # remote tool name; see tools.federation.approvals.
    approved_tools = models.JSONField(default=dict, blank=True, editable=False)

    healthy = models.BooleanField(
        null=True, blank=True, default=None, help_text="Result of the last check; empty until checked."
    )
    last_error = models.TextField(blank=True)
    last_checked = models.DateTimeField(null=True, blank=True)
    last_synced = models.DateTimeField(null=True, blank=True)
    protocol_version = models.CharField(max_length=20, blank=True)
    # The last tools/list answer, so the tools are listed (as unavailable) while the
    # server is down and right after a restart, before any connection is made.
    tools = models.JSONField(default=list, blank=True)

    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "remote MCP server"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.transport == self.Transport.STREAMABLE_HTTP:
            if not self.url:
                raise ValidationError({"url": "A Streamable HTTP server needs a URL."})
            if self.oauth and self.secret:
                raise ValidationError(
                    {
                        "secret": "A server that signs in with OAuth gets its tokens itself; "
                        "leave the bearer secret empty."
                    }
                )
        elif self.transport == self.Transport.STDIO:
            if not self.command.strip():
                raise ValidationError({"command": "A stdio server needs a command."})
            try:
                shlex.split(self.command)
            except ValueError as exc:
                raise ValidationError({"command": f"Cannot parse the command: {exc}."}) from None

    @property
    def oauth_connected(self) -> bool:
        credentials = self.oauth_credentials
        return bool(credentials) and not isinstance(credentials, Sealed) and bool(credentials.get("tokens"))

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.command)

    @property
    def tool_names(self) -> list[str]:
        return [
            f"{self.name}__{t.get('name')}"
            for t in self.tools
            if tool_offered(str(t.get("name")), allowed=self.allowed_tools or [], denied=self.denied_tools or [])
        ]

    @property
    def target(self) -> str:
        return self.url if self.transport == self.Transport.STREAMABLE_HTTP else self.command
