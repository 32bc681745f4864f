"""The /readyz entry for remote servers: their stored last health, no network I/O."""

from __future__ import annotations

from tools.federation.models import RemoteServer


def remote_servers_check() -> list[tuple[str, dict]]:
    checks: list[tuple[str, dict]] = []
    for server in RemoteServer.objects.filter(enabled=True).only("name", "healthy", "last_error", "last_checked"):
        entry: dict = {"status": "degraded" if server.healthy is False else "ok"}
        if server.healthy is None:
            entry["note"] = "not checked yet"
        if server.healthy is False:
            entry["error"] = server.last_error[:300]
        if server.last_checked is not None:
            entry["last_checked"] = server.last_checked.isoformat()
        checks.append((f"remote:{server.name}", entry))
    return checks
