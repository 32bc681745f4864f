from django.apps import AppConfig
from django.conf import settings


class ToolsConfig(AppConfig):
    name = "tools"
    verbose_name = "Tools"

    def ready(self) -> None:
        from mcpsite.health import EXTRA_CHECKS
        from tools import signals  # noqa: F401  (ToolConfig changes notify listeners)
        from tools.builtin import register_builtins
        from tools.mcp_server.health import mcp_check

        register_builtins()
        if mcp_check not in EXTRA_CHECKS:
            EXTRA_CHECKS.append(mcp_check)
        if settings.MCP_EXTRA_PROVIDERS:
            from tools.mcp_server.providers import register_provider_tools

            register_provider_tools()
