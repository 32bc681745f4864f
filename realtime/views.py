"""The Word Add-in's pages: its manifest and its task pane."""

from __future__ import annotations

import uuid

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_GET

# Office identifies an add-in by the manifest's Id: one stable id per host it is served from.
_MANIFEST_NAMESPACE = uuid.UUID("5d0c1c8e-3f7a-4f5e-9a57-6d2b8f0c9e41")


@require_GET
def manifest(request: HttpRequest) -> HttpResponse:
    """An Office add-in manifest (Word, task pane) for the host this request came in on."""
    origin = request.build_absolute_uri("/").rstrip("/")
    context = {
        "addin_id": uuid.uuid5(_MANIFEST_NAMESPACE, origin),
        "origin": origin,
        "taskpane_url": request.build_absolute_uri("/addin/taskpane/"),
        "icon_32": request.build_absolute_uri(static("addin/icon-32.png")),
        "icon_64": request.build_absolute_uri(static("addin/icon-64.png")),
        "support_url": request.build_absolute_uri("/"),
    }
    response = render(request, "realtime/manifest.xml", context, content_type="application/xml; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="mcpsite-addin-manifest.xml"'
    return response


# Word on the web shows the task pane in a frame of another origin. The page holds no
# cookie-authenticated action (it signs in with a token), so framing it is harmless.
@xframe_options_exempt
@require_GET
def taskpane(request: HttpRequest) -> HttpResponse:
    return render(request, "realtime/taskpane.html")
