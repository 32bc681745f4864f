"""Who may use /mcp: the hub's own API tokens, through the SDK's token-verifier seam."""

from __future__ import annotations

from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from mcp.server.auth.provider import AccessToken

from accounts.services import user_for_token

ANONYMOUS_USERNAME = "mcp-anonymous"


class HubTokenVerifier:
    """``TokenVerifier`` for the SDK's bearer middleware: a hub API token, or nothing.

    The token's user id is the subject; the token's own id is the client id, so a
    Streamable HTTP session stays bound to the token that opened it.
    """

    async def verify_token(self, token: str) -> AccessToken | None:
        found = await database_sync_to_async(user_for_token)(token)
        if found is None:
            return None
        user, api_token = found
        expires = int(api_token.expiry.timestamp()) if api_token.expiry else None
        return AccessToken(
            token=token, client_id=f"token:{api_token.token_key}", scopes=[], expires_at=expires, subject=str(user.pk),
        )


def anonymous_user():
    """The low-privilege user that anonymous MCP calls (``MCP_ALLOW_ANONYMOUS=1``) act as."""
    User = get_user_model()
    user, created = User.objects.get_or_create(
        username=ANONYMOUS_USERNAME, defaults={"role": User.Role.USER, "is_staff": False, "is_superuser": False},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user
