"""The site's URLs plus views that fail, to see the last-resort 500 (tests only)."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from mcpsite.urls import handler404, handler500, urlpatterns as site_patterns  # noqa: F401 (handlers by name)


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a defect that slipped through")


urlpatterns = [path("api/v1/boom/", boom), path("boom/", boom), *site_patterns]
