"""The authorization server's rules on top of django-oauth-toolkit's validator."""

from __future__ import annotations

from typing import Any

from oauth2_provider.oauth2_validators import OAuth2Validator

# The hub signs people in for MCP clients: the authorization code (always with PKCE
# S256, see OAUTH2_PROVIDER) and its refresh tokens. A client registered for any other
# grant (dynamic registration lets one ask for client_credentials) gets no token.
ALLOWED_GRANT_TYPES = {"authorization_code", "refresh_token"}


class HubOAuth2Validator(OAuth2Validator):
    def validate_grant_type(
        self, client_id: str, grant_type: str, client: Any, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        if grant_type not in ALLOWED_GRANT_TYPES:
            return False
        return super().validate_grant_type(client_id, grant_type, client, request, *args, **kwargs)

    def validate_response_type(
        self, client_id: str, response_type: str, client: Any, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        if response_type != "code":
            return False
        return super().validate_response_type(client_id, response_type, client, request, *args, **kwargs)
