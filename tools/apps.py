from django.apps import AppConfig
from django.conf import settings


class ToolsConfig(AppConfig):
    name = "tools"
    verbose_name = "Tools"

    def ready(self) -> None:
        from tools import signals  # noqa: F401  (ToolConfig changes notify listeners)
        from tools.builtin import register_builtins

        register_builtins()
        if settings.MCP_CONFORMANCE_FIXTURES:
            from tools.mcp_server import fixtures

            fixtures.register()
