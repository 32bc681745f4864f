"""The one place the MCP door reaches past the SDK's public API (an upstream gap).

The SDK hands a request handler the per-request ``ServerSession``; the ``Connection``
behind it (per-connection state, the negotiated version and client capabilities, the
standalone channel, the exit stack) is not public there yet: its ``Context`` class has
it, but the request runner does not build that for low-level handlers. Everything in
``mcp_server`` that needs the connection asks here.
"""

from __future__ import annotations

from typing import Any

from mcp.server.connection import Connection
from mcp.server.context import ServerRequestContext


def connection_of(ctx: ServerRequestContext[Any, Any]) -> Connection | None:
    """The request's connection, or None (an in-memory or otherwise bare session)."""
    return getattr(ctx.session, "_connection", None)
