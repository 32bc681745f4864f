"""The authorization server's routes: RFC 8414 metadata at the root, the endpoints under /oauth/.

One URL namespace, ``oauth2_provider``, because django-oauth-toolkit reverses its own
names there to build the metadata documents.
"""

from __future__ import annotations

from django.urls import path
from oauth2_provider import views as oauth_views

from authserver.views import HubAuthorizationView, HubLoginView

app_name = "oauth2_provider"

urlpatterns = [
    # RFC 8414 (and its path-component form); the issuer is the hub's base URL.
    path(
        ".well-known/oauth-authorization-server",
        oauth_views.OAuthServerMetadataView.as_view(),
        name="oauth-server-metadata",
    ),
    path(
        ".well-known/oauth-authorization-server/<path:issuer_path>",
        oauth_views.OAuthServerMetadataView.as_view(),
        name="oauth-server-metadata-issuer",
    ),
    # RFC 9728 for the REST API (the whole site is the resource); /mcp's own document is
    # served by the MCP app at /.well-known/oauth-protected-resource/mcp.
    path(
        ".well-known/oauth-protected-resource",
        oauth_views.OAuthProtectedResourceMetadataView.as_view(),
        name="oauth-resource-metadata",
    ),
    path("oauth/login/", HubLoginView.as_view(), name="login"),
    path("oauth/authorize/", HubAuthorizationView.as_view(), name="authorize"),
    path("oauth/token/", oauth_views.TokenView.as_view(), name="token"),
    path("oauth/revoke/", oauth_views.RevokeTokenView.as_view(), name="revoke-token"),
    # RFC 7591 / 7592 (answers 404 when OAUTH_DYNAMIC_REGISTRATION is off).
    path("oauth/register/", oauth_views.DynamicClientRegistrationView.as_view(), name="dcr-register"),
    path(
        "oauth/register/<str:client_id>/",
        oauth_views.DynamicClientRegistrationManagementView.as_view(),
        name="dcr-register-management",
    ),
]
