"""The places the MCP door reaches past the SDK's public API (upstream gaps), in one file.

- The connection behind a request. The SDK hands a request handler the per-request
  ``ServerSession``; the ``Connection`` behind it (per-connection state, the negotiated
  version and client capabilities, the standalone channel, the exit stack) is not public
  there yet: its ``Context`` class has it, but the request runner does not build that for
  low-level handlers.
- The SDK's OpenTelemetry middleware, which ``Server`` installs by default, is only
  importable from a private module; the hub drops it when nothing collects its spans.
- A session's event store. The session manager hands every session's transport its one
  event store, and a transport names its streams by request ids that every session counts
  alike; the hub gives each transport a store of that session's own events instead.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from mcp.server import Server
from mcp.server._otel import OpenTelemetryMiddleware
from mcp.server.connection import Connection
from mcp.server.context import ServerRequestContext
from mcp.server.streamable_http import EventStore, StreamableHTTPServerTransport
from opentelemetry import trace


def connection_of(ctx: ServerRequestContext[Any, Any]) -> Connection | None:
    """The request's connection, or None (an in-memory or otherwise bare session)."""
    return getattr(ctx.session, "_connection", None)


def give_event_store(transport: StreamableHTTPServerTransport, store: EventStore) -> None:
    """Replace the store a new session's transport was made with (before it serves a request)."""
    transport._event_store = store


def tracing_wanted() -> bool:
    """``MCP_TRACE_SPANS``: on, off, or (auto, the default) on when an OpenTelemetry tracer
    provider is installed in this process (the OpenTelemetry SDK, ``opentelemetry-instrument``)."""
    wanted = settings.MCP_TRACE_SPANS
    if wanted is not None:
        return bool(wanted)
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def drop_tracing(server: Server[Any]) -> None:
    """Remove the SDK's span around every request: with no tracer provider each span is a
    no-op that still costs a context switch in and out (about 5% of a call's CPU in the
    web process, issue 10)."""
    server.middleware[:] = [m for m in server.middleware if not isinstance(m, OpenTelemetryMiddleware)]
