"""Tokens of every kind the auth matrix needs, made directly in the database.

The OAuth flows that issue such tokens are tested end to end elsewhere (the SDK clients,
the conformance suite); here only what a door does with a token matters. Importable in
the test process and in a hub's ``manage.py shell``."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model, set_token_value

from accounts.models import APIToken, User
from accounts.services import token_create

ALL = "tools:read tools:call executions:read"


def oauth_token(user: User, *, scope: str = ALL, resource: list[str] | None = None, expires_in: int = 3600) -> str:
    return oauth_token_row(user, scope=scope, resource=resource, expires_in=expires_in)[0]


def oauth_token_row(user: User, *, scope: str = ALL, resource: list[str] | None = None, expires_in: int = 3600):
    Application = get_application_model()
    application, _ = Application.objects.get_or_create(
        name="matrix client", defaults={
            "client_type": Application.CLIENT_PUBLIC, "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
            "redirect_uris": "http://127.0.0.1:9/callback",
        },
    )
    raw = secrets.token_urlsafe(24)
    token = get_access_token_model()(
        user=user, application=application, scope=scope, resource=resource or [],
        expires=timezone.now() + timedelta(seconds=expires_in),
    )
    set_token_value(token, raw)
    token.save()
    return raw, token


def make_tokens(*, base: str, mcp_url: str, username: str = "alice") -> dict[str, str]:
    """Name -> token text, for the user ``username`` (created if missing)."""
    user, _ = User.objects.get_or_create(username=username)
    tokens = {
        "oauth_site": oauth_token(user, resource=[base]),  # the whole hub: every door
        "oauth_mcp": oauth_token(user, resource=[mcp_url]),  # only /mcp
        "oauth_unbound": oauth_token(user),  # no resource: REST, WebSocket, stdio, not /mcp
        "oauth_elsewhere": oauth_token(user, resource=["https://elsewhere.example/mcp"]),
        "oauth_expired": oauth_token(user, resource=[base], expires_in=-60),
        "oauth_read_only": oauth_token(user, scope="tools:read", resource=[base]),
        "oauth_no_executions": oauth_token(user, scope="tools:read tools:call", resource=[base]),
        "api_read_only": token_create(user=user, scopes=frozenset({"tools:read"}))[1],
    }
    tokens["oauth_revoked"], row = oauth_token_row(user, resource=[base])
    row.revoke()
    row, tokens["api_revoked"] = token_create(user=user)
    row.delete()
    row, tokens["api_expired"] = token_create(user=user)
    APIToken.objects.filter(pk=row.pk).update(expiry=timezone.now() - timedelta(minutes=1))
    tokens["api"] = token_create(user=user)[1]
    return tokens
