"""The site's URLs plus views that fail, to see the last-resort 500 (tests only)."""

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.urls import path
from rest_framework.views import APIView

from mcpsite.urls import handler404, handler500  # noqa: F401 (handlers by name)
from mcpsite.urls import urlpatterns as site_patterns


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a defect that slipped through")


class DatabaseGone(APIView):
    permission_classes: list = []

    def get(self, request: HttpRequest) -> HttpResponse:
        raise OperationalError("terminating connection due to administrator command")


urlpatterns = [
    path("api/v1/boom/", boom), path("boom/", boom), path("api/v1/database-gone/", DatabaseGone.as_view()),
    *site_patterns,
]
