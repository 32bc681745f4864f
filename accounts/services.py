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


def admin_ensure(*, username: str, password: str = "", email: str = "") -> tuple[User, str] | None:
    """Create the first admin unless a superuser exists; returns it and its password.

    An empty ``password`` generates one (the caller shows it once). None when there
    already is an admin: a restart never touches an existing account.
    """
    import secrets

    if User.objects.filter(is_superuser=True).exists():
        return None
    password = password or secrets.token_urlsafe(12)
    user = User.objects.create_superuser(
        username=username, email=email or None, password=password, role=User.Role.ADMIN
    )
    return user, password


def tokens_of_user(*, user: User) -> list[APIToken]:
    """The user's API tokens, newest first (only their first characters are known)."""
    return list(APIToken.objects.filter(user=user).order_by("-created"))
