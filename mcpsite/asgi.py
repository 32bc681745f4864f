"""ASGI entry point: the MCP server at /mcp, Django for the rest of HTTP, Channels for WebSockets."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mcpsite.settings")
# Django must be set up before anything imports models (consumers, the MCP app); as
# django.core.asgi.get_asgi_application does, with the handler that runs the middleware
# chain and the view in one hop (mcpsite/handler.py).
django.setup(set_prefix=False)

from mcpsite.handler import OneHopASGIHandler, shared_threads  # noqa: E402

django_asgi_app = OneHopASGIHandler(shared_threads)

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from executions import reaper, toolpool  # noqa: E402
from mcp_server.http import MCP_PATH, METADATA_PATH  # noqa: E402
from mcp_server.http import application as mcp_app  # noqa: E402
from mcpsite import client_gone, daphne_options, gctuning, processcache  # noqa: E402
from realtime.routing import AddinOriginValidator, websocket_urlpatterns  # noqa: E402
from tools.federation import runtime as federation  # noqa: E402

# Over-size WebSocket messages closed with 1009, not dropped (see the module).
daphne_options.install()


async def http_app(scope, receive, send):
    """/mcp (and its RFC 9728 metadata) to the MCP server, everything else to Django."""
    # A serving process watches for remote servers that other processes add, change or
    # remove (`mcp_servers add`, the admin of another replica), and checks their health.
    federation.start()
    # The tool processes start beside the first request, not in the first tool call.
    toolpool.start_in_background()
    # Without workers there is no beat: the reaper runs here (a no-op with workers).
    reaper.start_in_process()
    # Other processes' changes to tokens and tool configurations (with Redis).
    processcache.listen()
    if scope["path"] in (MCP_PATH, MCP_PATH + "/", METADATA_PATH):
        await mcp_app(scope, receive, send)
    else:
        await django_asgi_app(*client_gone.watch(scope, receive), send)


# The add-in authenticates with its first frame; the origin is checked at the handshake.
addin_app = AddinOriginValidator(URLRouter(websocket_urlpatterns))


async def websocket_app(scope, receive, send):
    processcache.listen()
    await addin_app(scope, receive, send)


application = ProtocolTypeRouter({"http": http_app, "websocket": websocket_app})

# Everything the process serves with is imported: out of the garbage collector's way.
gctuning.tune_for_serving()
