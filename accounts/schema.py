"""OpenAPI description of the hub's token authentication (drf-spectacular extension)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    # Swagger UI's "Authorize" offers a Bearer field for this scheme.
    target_class = "accounts.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "mcps_…",
            "description": (
                "An API token from `manage.py create_token <user>`, sent as `Authorization: Bearer <token>`."
            ),
        }
