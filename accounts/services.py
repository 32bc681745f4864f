"""Tokens: created here, checked here, for every door (REST, MCP, WebSocket, stdio).

Two kinds of bearer token reach the hub: API tokens from ``create_token`` (knox, hashed,
``mcps_`` prefix) and OAuth access tokens from the hub's own authorization server
(django-oauth-toolkit). ``principal_for_token`` checks either against the database, then
keeps the answer in this process (``mcpsite.processcache``): revoking or changing a
token, or changing, deactivating or deleting a user, empties that cache in every process
at once (``accounts.revocation``), and a token past its expiry is never taken from it.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils import timezone
from knox.auth import TokenAuthentication
from oauth2_provider.models import get_access_token_model
from oauth2_provider.oauth2_validators import validate_resource_as_url_prefix
from rest_framework.exceptions import AuthenticationFailed

from accounts.models import APIToken, User
from mcpsite import processcache
from mcpsite.db import release_connection

logger = logging.getLogger(__name__)

SCOPE_TOOLS_READ = "tools:read"
SCOPE_TOOLS_CALL = "tools:call"
SCOPE_EXECUTIONS_READ = "executions:read"
ALL_SCOPES = (SCOPE_TOOLS_READ, SCOPE_TOOLS_CALL, SCOPE_EXECUTIONS_READ)


class TokenRefused(Exception):
    """A bearer token that may not be used here; ``description`` says why (for the 401)."""

    def __init__(self, description: str) -> None:
        self.description = description
        super().__init__(description)


@dataclass(frozen=True)
class Principal:
    """Who a bearer token speaks for, and what it may do."""

    user: User
    # None: every scope (API tokens made without --scope, browser sessions, the CLI).
    scopes: frozenset[str] | None
    # Binds a stateful MCP session to the credential that opened it.
    client_id: str
    kind: str  # "api_token" or "oauth"
    expires_at: datetime | None = None
    token_key: str = ""
    client_name: str = ""
    api_token_digest: str = ""  # the APIToken row of an API token (its primary key)

    def allows(self, scope: str) -> bool:
        return self.scopes is None or scope in self.scopes


def scopes_parse(text: str) -> frozenset[str]:
    """``"tools:read tools:call"`` (spaces or commas) -> the set; raises ValueError naming an unknown one."""
    scopes = frozenset(part for part in text.replace(",", " ").split() if part)
    unknown = scopes - set(ALL_SCOPES)
    if unknown:
        raise ValueError(f"Unknown scope {sorted(unknown)[0]!r}; the scopes are {', '.join(ALL_SCOPES)}.")
    return scopes


def token_create(
    *, user: User, name: str = "", ttl: timedelta | object | None = ..., scopes: frozenset[str] | None = None,
) -> tuple[APIToken, str]:
    """Create a token; returns the row and the token text, which is shown only once."""
    kwargs = {} if ttl is ... else {"expiry": ttl}
    row, text = APIToken.objects.create(user=user, name=name, **kwargs)
    if scopes is not None:
        row.scopes = " ".join(s for s in ALL_SCOPES if s in scopes)
        row.save(update_fields=["scopes"])
    return row, text


def user_for_token(token: str) -> tuple[User, APIToken] | None:
    """The active user an API token (``create_token``) belongs to, or None for a bad or expired one."""
    if not token or len(token) > 200:
        return None
    try:
        user, api_token = TokenAuthentication().authenticate_credentials(token.encode())
    except (AuthenticationFailed, UnicodeError):
        return None
    _mark_used(api_token.pk, api_token.last_used)
    return user, api_token


# APIToken.last_used is written at most once a minute per token, by this thread, so that
# neither a busy client nor the token cache puts a write on the call's path.
LAST_USED_EVERY = timedelta(minutes=1)
_last_used: dict[str, datetime] = {}
_last_used_lock = threading.Lock()
_last_used_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="token-last-used")


def _mark_used(digest: str, stored: datetime | None) -> None:
    now = timezone.now()
    with _last_used_lock:
        seen = max(filter(None, (stored, _last_used.get(digest))), default=None)
        if seen is not None and now - seen <= LAST_USED_EVERY:
            return
        if len(_last_used) > 10_000:
            _last_used.clear()
        _last_used[digest] = now
    _last_used_writer.submit(_write_last_used, digest, now)


def _write_last_used(digest: str, now: datetime) -> None:
    try:
        APIToken.objects.filter(pk=digest).update(last_used=now)
    except Exception:  # a record of use, never a reason to fail anything
        logger.warning("could not record a token's last use", exc_info=True)
    finally:
        release_connection()


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


def principal_for_token(token: str, *, door_url: str | None, audience_required: bool = False) -> Principal:
    """The principal of a bearer token presented at ``door_url``; raises ``TokenRefused``.

    An OAuth token bound to resources (RFC 8707) is accepted only where one of them is a
    URL prefix of ``door_url``. ``audience_required`` (the MCP endpoint) also refuses
    OAuth tokens bound to no resource. ``door_url`` None is the stdio door, which has no
    URL: there a bound token must be bound to a hub's MCP endpoint.
    """
    if not token or len(token) > 500:
        raise TokenRefused("The token is invalid, expired or revoked.")
    principal = principal_known(token, door_url=door_url, audience_required=audience_required)
    if principal is not None:
        return principal
    read_at = processcache.generation()
    principal = _principal_from_database(token, door_url=door_url, audience_required=audience_required)
    _principals.put(_principal_key(token, door_url, audience_required), principal, read_at)
    return principal


def principal_known(token: str, *, door_url: str | None, audience_required: bool = False) -> Principal | None:
    """``principal_for_token`` when this process has checked the token already and nothing
    changed since: no database, so an async door may call it on its event loop."""
    principal = _principals.get(_principal_key(token, door_url, audience_required))
    if principal is None or (principal.expires_at is not None and principal.expires_at <= timezone.now()):
        return None
    if principal.api_token_digest:
        _mark_used(principal.api_token_digest, None)
    return principal


def _principal_key(token: str, door_url: str | None, audience_required: bool) -> tuple[bytes, str | None, bool]:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest(), door_url, audience_required


# (sha256 of the token, door URL, audience required) -> Principal; refusals are not kept.
_principals = processcache.ProcessCache("principals")


# user id -> User: who a call's row names, for the Celery worker that runs it.
_users = processcache.ProcessCache("users")


def user_by_id(user_id: int) -> User | None:
    """The user with this id (None: there is none), kept in this process until a user
    changes anywhere, as token checks are (``accounts.revocation`` empties the caches)."""
    user = _users.get(user_id)
    if user is None:
        read_at = processcache.generation()
        user = User.objects.filter(pk=user_id).first()
        if user is not None:
            _users.put(user_id, user, read_at)
    return user


def _principal_from_database(token: str, *, door_url: str | None, audience_required: bool) -> Principal:
    if token.startswith(settings.REST_KNOX["TOKEN_PREFIX"]):
        found = user_for_token(token)
        if found is None:
            raise TokenRefused("The token is invalid, expired or revoked.")
        user, api_token = found
        return Principal(
            user=user, scopes=scopes_parse(api_token.scopes) if api_token.scopes else None,
            client_id=f"token:{api_token.token_key}", kind="api_token", expires_at=api_token.expiry,
            token_key=api_token.token_key, client_name=api_token.name, api_token_digest=api_token.pk,
        )
    return _oauth_principal(token, door_url=door_url, audience_required=audience_required)


def _is_this_hubs_mcp(resource: str) -> bool:
    """Whether ``resource`` names this hub's MCP endpoint (stdio has no URL of its own):
    MCP_PUBLIC_URL's /mcp when set, else /mcp on a host this hub answers to (a resource
    that is a URL prefix of it, like the whole site, counts)."""
    parts = urlsplit(resource)
    if settings.MCP_PUBLIC_URL:
        return validate_resource_as_url_prefix(f"{settings.MCP_PUBLIC_URL.rstrip('/')}/mcp", [resource])
    host, _port = split_domain_port(parts.netloc)
    if not host or not validate_host(host, settings.ALLOWED_HOSTS):
        return False
    return validate_resource_as_url_prefix(f"{parts.scheme}://{parts.netloc}/mcp", [resource])


def _oauth_principal(token: str, *, door_url: str | None, audience_required: bool) -> Principal:
    checksum = hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()
    access = (
        get_access_token_model().objects.select_related("user", "application")
        .filter(token_checksum=checksum).first()
    )
    # Revoking deletes the row, so a revoked token is simply not found.
    if access is None or access.is_expired() or access.user is None or not access.user.is_active:
        raise TokenRefused("The token is invalid, expired or revoked.")
    scopes = frozenset(access.scope.split()) & set(ALL_SCOPES)
    if not scopes:
        # A registration-management token (RFC 7592) or one for another purpose.
        raise TokenRefused("The token grants none of this server's scopes.")
    resources = list(access.resource or [])
    if door_url is None:
        fits = not resources or any(_is_this_hubs_mcp(r) for r in resources)
    elif not resources:
        fits = not audience_required
    else:
        fits = validate_resource_as_url_prefix(door_url, resources)
    if not fits:
        raise TokenRefused("The token was not issued for this resource (RFC 8707 resource indicator).")
    application = access.application
    return Principal(
        # The client, not the token: a session outlives the rotation of its access token.
        user=access.user, scopes=scopes, client_id=f"oauth:{access.application_id or access.pk}", kind="oauth",
        expires_at=access.expires,
        token_key=f"oauth:{application.pk if application else access.pk}",
        client_name=application.name if application else "",
    )
