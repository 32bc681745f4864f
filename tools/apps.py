from django.apps import AppConfig


class ToolsConfig(AppConfig):
    name = "tools"
    verbose_name = "Tools"

    def ready(self) -> None:
        from tools import signals  # noqa: F401  (ToolConfig changes notify listeners)
        from tools.builtin import register_builtins

        register_builtins()
