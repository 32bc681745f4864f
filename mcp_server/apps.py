from django.apps import AppConfig
from django.conf import settings


class McpServerConfig(AppConfig):
    name = "mcp_server"
    verbose_name = "MCP server"

    def ready(self) -> None:
        from mcp_server.health import mcp_check
        from mcp_server.providers import register_provider_tools
        from mcpsite.health import EXTRA_CHECKS

        if mcp_check not in EXTRA_CHECKS:
            EXTRA_CHECKS.append(mcp_check)
        if settings.MCP_EXTRA_PROVIDERS:
            register_provider_tools()
