"""Tokens: created here, checked here, for every door (REST, MCP, WebSocket)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from knox.auth import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from accounts.models import APIToken, User


def token_create(*, user: User, name: str = "", ttl: timedelta | None | object = ...) -> tuple[APIToken, str]:
    """Create a token; returns the row and the token text, which is shown only once."""
    kwargs = {} if ttl is ... else {"expiry": ttl}
    return APIToken.objects.create(user=user, name=name, **kwargs)


def user_for_token(token: str) -> tuple[User, APIToken] | None:
    """The active user a bearer token belongs to, or None for a bad or expired token."""
    if not token or len(token) > 200:
        return None
    try:
        user, api_token = TokenAuthentication().authenticate_credentials(token.encode())
    except (AuthenticationFailed, UnicodeError):
        return None
    # Marked at most once a minute, so that a busy client does not write on each call.
    now = timezone.now()
    if api_token.last_used is None or now - api_token.last_used > timedelta(minutes=1):
        APIToken.objects.filter(pk=api_token.pk).update(last_used=now)
    return user, api_token
