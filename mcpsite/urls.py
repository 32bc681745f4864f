from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from executions.api import ExecutionViewSet, SessionViewSet
from executions.tools_api import ToolDetailView, ToolExecuteView, ToolListView
from mcpsite import health, views
from tools.federation import oauth
from tools.federation import views as federation_views

# JSON {"code", "message"} for unknown /api/ paths (a non-UUID execution id included).
handler404 = "mcpsite.api.not_found"
# JSON with the request id for a defect under /api/ (and the OAuth endpoints), never HTML.
handler500 = "mcpsite.api.server_error"

router = DefaultRouter()
router.register("executions", ExecutionViewSet, basename="execution")
router.register("sessions", SessionViewSet, basename="session")

api_patterns: list[URLPattern | URLResolver] = [
    path("tools/", ToolListView.as_view(), name="tool-list"),
    path("tools/<str:name>/", ToolDetailView.as_view(), name="tool-detail"),
    path("tools/<str:name>/execute/", ToolExecuteView.as_view(), name="tool-execute"),
    path("", include(router.urls)),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("admin/", admin.site.urls),
    path("api/v1/", include((api_patterns, "api"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("api-auth/", include("rest_framework.urls")),
    path("addin/", include("realtime.urls")),
    # The hub as the OAuth 2.1 authorization server of its MCP endpoint (and REST API).
    path("", include("authserver.urls")),
    path(oauth.CLIENT_METADATA_PATH.lstrip("/"), federation_views.client_metadata, name="federation-client-metadata"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("", include("django_prometheus.urls")),
]
