"""The home page at ``/``: what the hub is and where each door is."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.services import tokens_of_user
from executions.selectors import executions_recent_of_user


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    mcp_url = request.build_absolute_uri("/mcp")
    context = {
        # The admin's header, styles and user links, so that the page looks like the rest of the site.
        **admin.site.each_context(request),
        "title": "MCP tool hub",
        "mcp_url": mcp_url,
        "now": timezone.now(),
    }
    if request.user.is_authenticated:
        context["tokens"] = tokens_of_user(user=request.user)
        context["executions"] = executions_recent_of_user(user=request.user)
    return render(request, "home.html", context)
