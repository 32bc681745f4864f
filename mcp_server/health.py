"""The /readyz entry for the MCP server. A failing MCP app leaves the rest of the hub
serving, so it reports the hub degraded, not down."""

from __future__ import annotations


def mcp_check() -> list[tuple[str, dict]]:
    from mcp_server.http import application

    try:
        _ = application.hub  # builds the server over the registry on first use
    except Exception as exc:
        return [("mcp", {"status": "degraded", "error": f"{type(exc).__name__}: {exc}"[:300]})]
    failure = application.failure()
    if failure is not None:
        return [("mcp", {"status": "degraded", "error": failure})]
    entry = {"status": "ok", "stateless": application.stateless}
    if not application.is_running():
        entry["note"] = "sessions start with the first /mcp request in this process"
    return [("mcp", entry)]
