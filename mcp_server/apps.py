from __future__ import annotations

from typing import TYPE_CHECKING

from django.apps import AppConfig
from django.conf import settings

if TYPE_CHECKING:
    from mcp_server.providers import Providers


class McpServerConfig(AppConfig):
    name = "mcp_server"
    verbose_name = "MCP server"
    readiness_check = "mcp_server.health.mcp_check"  # a part of /readyz (mcpsite.health)
    providers: Providers

    def ready(self) -> None:
        from mcp_server.builtin import ExecutionResources, HubPrompts
        from mcp_server.providers import Providers, load_providers

        # Where prompts and resources come from: built in, then MCP_EXTRA_PROVIDERS.
        self.providers = Providers([HubPrompts(), ExecutionResources(), *load_providers(settings.MCP_EXTRA_PROVIDERS)])
        self.providers.register_tools()
