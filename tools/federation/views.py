"""The hub's OAuth client ID metadata document, for remote servers' authorization servers."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.http import Http404, HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_GET

from tools.federation import oauth


@require_GET
def client_metadata(request: HttpRequest) -> JsonResponse:
    """Served where ``FEDERATION_OAUTH_CLIENT_METADATA_URL`` points (404 when the hub has no
    such client ID and registers itself instead). The admin's callback is listed on the
    client ID's own origin: that is where operators reach the hub."""
    client_id = oauth.client_metadata_url()
    if not client_id:
        raise Http404("The hub has no client ID metadata document (FEDERATION_OAUTH_CLIENT_METADATA_URL is unset).")
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(client_id))
    callback = origin + reverse("admin:federation_remoteserver_oauth_callback")
    response = JsonResponse(oauth.client_metadata_document(callback))
    response["Cache-Control"] = "public, max-age=3600"
    return response
