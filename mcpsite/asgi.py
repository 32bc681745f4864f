"""ASGI entry point: Django for HTTP, Channels for WebSockets."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mcpsite.settings")
# Django must be set up before anything imports models (consumers, the MCP app).
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from realtime.routing import AddinOriginValidator, websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter({
    "http": django_asgi_app,
    # The add-in authenticates with its first frame; the origin is checked at the handshake.
    "websocket": AddinOriginValidator(URLRouter(websocket_urlpatterns)),
})
