from __future__ import annotations

from knox.auth import TokenAuthentication


class BearerTokenAuthentication(TokenAuthentication):
    """``Authorization: Bearer <token>`` with hashed, expiring knox tokens."""

    def authenticate_header(self, request: object) -> str:
        return "Bearer"
