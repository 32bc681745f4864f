"""WebSocket routes of the Word Add-in, wrapped in ``mcpsite/asgi.py`` by the origin check."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from channels.security.websocket import OriginValidator
from django.conf import settings
from django.urls import path

from mcpsite.origins import parse_origin
from realtime.consumers import AddinConsumer

if TYPE_CHECKING:
    from channels.consumer import _ChannelScope

websocket_urlpatterns: list[Any] = [
    # Channels routes ASGI applications with django.urls.path (its documented way);
    # django-stubs types path() for views only.
    path("ws/addin/", AddinConsumer.as_asgi()),  # type: ignore[arg-type]
]


class AddinOriginValidator(OriginValidator):
    """Channels' origin check against ADDIN_ALLOWED_ORIGINS, read per connection.

    A missing Origin is refused (no browser omits it; a script that does is not the add-in).
    """

    def __init__(self, application: Any) -> None:
        super().__init__(application, allowed_origins=[])

    async def __call__(self, scope: _ChannelScope, receive: Any, send: Any) -> Any:
        self.allowed_origins = list(settings.ADDIN_ALLOWED_ORIGINS)
        return await super().__call__(scope, receive, send)

    def valid_origin(self, parsed_origin: Any) -> bool:
        # Channels reads the header with urlparse, which takes "https://word.example@evil"
        # for a URL on evil; a value that is not exactly scheme://host[:port] is refused.
        if parsed_origin is not None and parse_origin(parsed_origin.geturl()) is None:
            return False
        return super().valid_origin(parsed_origin)
