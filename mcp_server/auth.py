"""Who may use the MCP server: tokens are checked in ``accounts.services.principal_for_token``
(``http.py`` for /mcp, ``mcp_stdio`` for stdio); anonymous callers act as one user."""

from __future__ import annotations

from django.contrib.auth import get_user_model

ANONYMOUS_USERNAME = "mcp-anonymous"


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
