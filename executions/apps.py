from django.apps import AppConfig


class ExecutionsConfig(AppConfig):
    name = "executions"
    verbose_name = "Executions"

    def ready(self) -> None:
        from executions import checks  # noqa: F401  (system checks)
        from mcpsite import db  # noqa: F401  (forked workers do not share the pool's connections)
