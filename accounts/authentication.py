from __future__ import annotations

from typing import Any

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated
from rest_framework.request import Request

from accounts.models import User
from accounts.services import ALL_SCOPES, Principal, TokenRefused, principal_for_token

# Where the REST API's RFC 9728 metadata is (the resource is the whole site).
RESOURCE_METADATA_PATH = "/.well-known/oauth-protected-resource"


class BearerTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <token>``: an API token (``create_token``) or an OAuth access
    token whose resource covers this URL. ``request.auth`` is the ``Principal``."""

    def authenticate(self, request: Request) -> tuple[Any, Principal] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Send Authorization: Bearer <token>.")
        try:
            token = parts[1].decode("ascii")
        except UnicodeError:
            raise AuthenticationFailed("The token is invalid, expired or revoked.") from None
        door_url = request.build_absolute_uri(request.path)
        try:
            principal = principal_for_token(token, door_url=door_url)
        except TokenRefused as exc:
            raise AuthenticationFailed(exc.description) from None
        return principal.user, principal

    def authenticate_header(self, request: Request) -> str:
        return bearer_challenge(request, error="invalid_token" if get_authorization_header(request) else None)


def signed_in_user(request: Request) -> User:
    """The user of a request that IsAuthenticated (every API view's default) let through."""
    user = request.user
    if not isinstance(user, User):
        raise NotAuthenticated()
    return user


def bearer_challenge(request: Any, *, error: str | None = None, scopes: tuple[str, ...] = ALL_SCOPES) -> str:
    """The ``WWW-Authenticate`` value for a 401 or 403 of the REST API (RFC 6750, RFC 9728)."""
    metadata = request.build_absolute_uri(RESOURCE_METADATA_PATH)
    params = [f'error="{error}"'] if error else []
    params += [f'scope="{" ".join(scopes)}"', f'resource_metadata="{metadata}"']
    return "Bearer " + ", ".join(params)
