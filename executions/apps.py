from django.apps import AppConfig


class ExecutionsConfig(AppConfig):
    name = "executions"
    verbose_name = "Executions"
    readiness_check = "executions.health.tool_processes_check"  # a part of /readyz (mcpsite.health)

    def ready(self) -> None:
        # Imported for what they register: system checks, and the Celery tasks that the
        # service sends by name.
        from executions import checks, tasks  # noqa: F401
        from mcpsite import db  # noqa: F401  (forked workers do not share the pool's connections)
