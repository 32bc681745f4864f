from django.apps import AppConfig
from django.conf import settings


class McpServerConfig(AppConfig):
    name = "mcp_server"
    verbose_name = "MCP server"
    readiness_check = "mcp_server.health.mcp_check"  # a part of /readyz (mcpsite.health)

    def ready(self) -> None:
        from mcp_server.providers import register_provider_tools

        if settings.MCP_EXTRA_PROVIDERS:
            register_provider_tools()
