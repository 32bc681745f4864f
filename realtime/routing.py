"""WebSocket routes of the Word Add-in, wrapped in ``mcpsite/asgi.py`` by the origin check."""

from __future__ import annotations

from typing import Any

from channels.security.websocket import OriginValidator
from django.conf import settings
from django.urls import path

from realtime.consumers import AddinConsumer

websocket_urlpatterns = [
    path("ws/addin/", AddinConsumer.as_asgi()),
]


class AddinOriginValidator(OriginValidator):
    """Channels' origin check against ADDIN_ALLOWED_ORIGINS, read per connection.

    A missing Origin is refused (no browser omits it; a script that does is not the add-in).
    """

    def __init__(self, application: Any) -> None:
        super().__init__(application, allowed_origins=[])

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        self.allowed_origins = list(settings.ADDIN_ALLOWED_ORIGINS)
        return await super().__call__(scope, receive, send)
