"""Prometheus metrics for tool calls, exported at /metrics with django-prometheus's."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from executions.models import ToolExecution

TOOL_CALLS = Counter("mcpsite_tool_calls_total", "Finished tool calls.", ["tool", "status", "via"])
TOOL_REJECTED = Counter("mcpsite_tool_calls_rejected_total", "Tool calls refused before running.", ["tool", "reason"])
TOOL_DURATION = Histogram(
    "mcpsite_tool_call_duration_seconds",
    "Duration of finished tool calls.",
    ["tool"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600),
)
RATE_LIMIT_FALLBACKS = Counter(
    "mcpsite_rate_limit_local_total",
    "Rate limit checks counted per process because the shared cache (Redis) was unavailable.",
)
TOOL_CACHE_HITS = Counter("mcpsite_tool_cache_hits_total", "Tool calls answered from the cache.", ["tool"])
OPEN_WEBSOCKETS = Gauge("mcpsite_open_websockets", "Open Word Add-in WebSocket connections.")
OPEN_MCP_SESSIONS = Gauge(
    "mcpsite_open_mcp_sessions",
    "Open MCP sessions with an Mcp-Session-Id (Streamable HTTP, handshake era) in this process.",
)


def record_finished(execution: ToolExecution) -> None:
    TOOL_CALLS.labels(tool=execution.tool_name, status=execution.status, via=execution.via).inc()
    if execution.cache_hit:
        TOOL_CACHE_HITS.labels(tool=execution.tool_name).inc()
    elif execution.duration_ms is not None:
        TOOL_DURATION.labels(tool=execution.tool_name).observe(execution.duration_ms / 1000)


def record_rejected(tool: str, reason: str) -> None:
    TOOL_REJECTED.labels(tool=tool, reason=reason).inc()
