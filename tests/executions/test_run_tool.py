"""``manage.py run_tool`` waits for a background call a worker runs, as the other doors do."""

from __future__ import annotations

import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from executions import services
from executions.models import ToolExecution
from tools.base import Mode, Tool, ToolContext
from tools.registry import registry

pytestmark = pytest.mark.django_db(transaction=True)


class Worked(Tool):
    name = "test_run_tool_worked"
    description = "Runs on a worker."
    raw_input_schema = {"type": "object"}
    mode = Mode.BACKGROUND

    def run(self, arguments: dict, ctx: ToolContext) -> dict:
        ctx.report_progress(1, 1, "halfway")
        return {"worked": True}


@pytest.fixture(autouse=True)
def worked_tool():
    registry.register(Worked, replace=True)
    yield
    registry.unregister(Worked.name)


def test_it_waits_for_the_worker_and_prints_the_result(admin_user, settings, monkeypatch):
    settings.CELERY_TASK_ALWAYS_EAGER = False

    def send_to_worker(execution_id: str, timeout: float | None = None) -> None:
        # A worker in another thread picks the task up a moment later, as a real one would.
        def work() -> None:
            try:
                services.execution_run(execution_id=execution_id)
            finally:
                connection.close()

        threading.Timer(0.3, work).start()

    monkeypatch.setattr(services, "_send_to_worker", send_to_worker)
    out = StringIO()
    call_command("run_tool", Worked.name, "--user", admin_user.username, stdout=out, stderr=StringIO())
    assert '"worked": true' in out.getvalue()
    assert ToolExecution.objects.get().status == ToolExecution.Status.SUCCESS
