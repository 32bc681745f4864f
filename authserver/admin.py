"""The admin pages for signed-in MCP clients: who holds which grant, and revoking it.

django-oauth-toolkit registers its models (applications, grants, access and refresh
tokens, each with a revoke action); the access token list is swapped for one that shows
the scopes and the resource a token is bound to (``ACCESS_TOKEN_ADMIN_CLASS``).
"""

from __future__ import annotations

from oauth2_provider.admin import AccessTokenAdmin


class HubAccessTokenAdmin(AccessTokenAdmin):
    list_display = ("pk", "masked_token", "user", "application", "scope", "resource", "expires", "created")
    list_filter = ("application", "user")
    readonly_fields = ("scope", "resource", "expires", "application", "user", "created")
