from __future__ import annotations

from django.apps import AppConfig


class FederationConfig(AppConfig):
    name = "tools.federation"
    label = "federation"
    verbose_name = "Remote MCP servers"
    readiness_check = "tools.federation.health.remote_servers_check"  # a part of /readyz (mcpsite.health)

    def ready(self) -> None:
        # No network I/O here: the stored tool listings are registered on the first
        # registry read and the pool connects from its own thread (tools.federation.runtime).
        from tools.federation import runtime, signals  # noqa: F401  (row changes resync)
        from tools.registry import registry

        registry.add_loader(runtime.load_on_first_use)
