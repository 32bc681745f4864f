from __future__ import annotations

from django.core.management.base import BaseCommand

from executions.reaper import executions_reap


class Command(BaseCommand):
    help = "End executions left running by a worker or web process that died (the reaper's one pass)."

    def handle(self, *args: object, **options: object) -> None:
        ended = executions_reap()
        for execution in ended:
            self.stdout.write(f"{execution.id} {execution.tool_name}: {execution.error}")
        self.stdout.write(f"Ended {len(ended)} lost execution(s).")
