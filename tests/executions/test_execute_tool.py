"""The one path of a tool call, exercised with small tools registered for the test."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pydantic import BaseModel

from executions.models import ToolExecution
from executions.policy import ArgumentsInvalid, RateLimited, ToolNotFound
from executions.services import CallHooks, execute_tool, execution_cancel
from tests.crossproc import SharedCounter
from tools.base import Annotations, Mode, Role, Tool, ToolContext, ToolError
from tools.models import ToolConfig
from tools.registry import registry

pytestmark = pytest.mark.django_db(transaction=True)
Status = ToolExecution.Status


class EchoInput(BaseModel):
    value: int


class CountingEcho(Tool):
    name = "test_echo"
    title = "Echo"
    description = "Returns its argument; counts its runs."
    input_model = EchoInput
    annotations = Annotations(read_only=True, idempotent=True)
    cacheable = True
    runs = SharedCounter("test_echo_runs")

    def run(self, arguments: EchoInput, ctx: ToolContext) -> dict:
        type(self).runs.add()
        ctx.report_progress(1, 1, "done")
        return {"value": arguments.value}


class SlowLoop(Tool):
    """Loops for 8 s and never checks for cancellation: only killing its process stops it."""

    name = "test_slow"
    description = "Loops and counts its steps."
    timeout = 0.6
    input_model = None
    raw_input_schema = {"type": "object", "properties": {}}
    steps = SharedCounter("test_slow_steps")

    def run(self, arguments: dict, ctx: ToolContext) -> dict:
        for _ in range(400):
            type(self).steps.add()
            time.sleep(0.02)
        return {}


class Failing(Tool):
    name = "test_fail"
    description = "Raises."
    raw_input_schema = {"type": "object"}

    def run(self, arguments: dict, ctx: ToolContext) -> dict:
        raise ToolError("the input made no sense")


class Crashing(Tool):
    name = "test_crash"
    description = "Has a bug."
    raw_input_schema = {"type": "object"}

    def run(self, arguments: dict, ctx: ToolContext) -> dict:
        return {"x": 1 / 0}


class AsyncTool(Tool):
    name = "test_async"
    description = "An async tool."
    raw_input_schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}

    async def run(self, arguments: dict, ctx: ToolContext) -> dict:
        ctx.report_progress(1, 2, "half")
        return {"double": arguments["n"] * 2}


class AdminOnly(Tool):
    name = "test_admin_only"
    description = "Needs the admin role."
    raw_input_schema = {"type": "object"}
    required_role = Role.ADMIN

    def run(self, arguments: dict, ctx: ToolContext) -> dict:
        return {"ok": True}


class Background(Tool):
    name = "test_background"
    description = "Runs on a worker."
    raw_input_schema = {"type": "object"}
    mode = Mode.BACKGROUND

    def run(self, arguments: dict, ctx: ToolContext) -> dict:
        ctx.report_progress(1, 2, "step 1")
        ctx.report_progress(2, 2, "step 2")
        return {"done": True}


TEST_TOOLS = [CountingEcho, SlowLoop, Failing, Crashing, AsyncTool, AdminOnly, Background]


@pytest.fixture(autouse=True)
def test_tools():
    for cls in TEST_TOOLS:
        registry.register(cls, replace=True)
    CountingEcho.runs.reset()
    SlowLoop.steps.reset()
    yield
    for cls in TEST_TOOLS:
        registry.unregister(cls.name)


def test_it_records_a_successful_call_with_duration(user):
    progress = []
    execution = execute_tool(user=user, tool_name="test_echo", arguments={"value": 7}, via="api",
                             hooks=CallHooks(on_progress=progress.append))
    assert execution.status == Status.SUCCESS
    assert execution.result == {"value": 7}
    assert execution.duration_ms is not None and execution.started and execution.finished
    assert progress[0]["progress"] == 1 and progress[0]["message"] == "done"
    assert ToolExecution.objects.get(pk=execution.pk).progress == 1


def test_the_last_progress_is_written_with_the_end_of_the_call(user):
    """No UPDATE of its own for the progress a run reported last: the finishing UPDATE
    carries it (two statements for the call, as without progress)."""
    with CaptureQueriesContext(connection) as queries:
        execution = execute_tool(user=user, tool_name="test_echo", arguments={"value": 3}, via="api")
    writes = [q["sql"] for q in queries if "executions_toolexecution" in q["sql"] and not q["sql"].startswith("SELECT")]
    assert len(writes) == 2, writes
    assert writes[0].startswith("INSERT") and "progress_message" in writes[1]
    row = ToolExecution.objects.get(pk=execution.pk)
    assert (row.status, row.progress, row.progress_message) == (Status.SUCCESS, 1, "done")


def test_it_answers_the_second_identical_call_from_the_cache(user):
    first = execute_tool(user=user, tool_name="test_echo", arguments={"value": 1}, via="api")
    second = execute_tool(user=user, tool_name="test_echo", arguments={"value": 1}, via="mcp")
    third = execute_tool(user=user, tool_name="test_echo", arguments={"value": 2}, via="api")
    assert (first.cache_hit, second.cache_hit, third.cache_hit) == (False, True, False)
    assert second.result == {"value": 1}
    assert CountingEcho.runs.value == 2


def test_an_inline_call_never_starts_before_it_was_created(user):
    for value in range(5):
        fresh = execute_tool(user=user, tool_name="test_echo", arguments={"value": value}, via="api")
        cached = execute_tool(user=user, tool_name="test_echo", arguments={"value": value}, via="api")
        for execution in (fresh, cached):
            row = ToolExecution.objects.get(pk=execution.pk)
            assert row.created <= row.started <= row.finished, (row.cache_hit, row.created, row.started)


def test_a_config_ttl_of_zero_turns_the_cache_off(user):
    ToolConfig.objects.create(tool_name="test_echo", cache_ttl_seconds=0)
    execute_tool(user=user, tool_name="test_echo", arguments={"value": 1}, via="api")
    second = execute_tool(user=user, tool_name="test_echo", arguments={"value": 1}, via="api")
    assert not second.cache_hit
    assert CountingEcho.runs.value == 2


def test_it_rejects_unknown_and_disabled_tools_without_recording(user):
    with pytest.raises(ToolNotFound):
        execute_tool(user=user, tool_name="no_such_tool", arguments={}, via="api")
    ToolConfig.objects.create(tool_name="test_echo", enabled=False)
    with pytest.raises(ToolNotFound):
        execute_tool(user=user, tool_name="test_echo", arguments={"value": 1}, via="api")
    assert ToolExecution.objects.count() == 0


def test_it_rejects_invalid_arguments_listing_each_problem(user):
    with pytest.raises(ArgumentsInvalid) as info:
        execute_tool(user=user, tool_name="test_echo", arguments={"value": "seven"}, via="api")
    assert info.value.errors[0]["loc"] == "value"
    with pytest.raises(ArgumentsInvalid) as info:
        execute_tool(user=user, tool_name="test_async", arguments={"n": "x"}, via="api")
    assert "integer" in info.value.errors[0]["msg"]
    with pytest.raises(ArgumentsInvalid):
        execute_tool(user=user, tool_name="test_echo", arguments=["not", "an", "object"], via="api")
    assert ToolExecution.objects.count() == 0


def test_it_keeps_admin_tools_from_users_as_if_they_did_not_exist(user, admin_user):
    with pytest.raises(ToolNotFound) as refused:
        execute_tool(user=user, tool_name="test_admin_only", arguments={}, via="api")
    assert refused.value.message == "Unknown tool: 'test_admin_only'."
    assert execute_tool(user=admin_user, tool_name="test_admin_only", arguments={}, via="api").status == Status.SUCCESS


def test_it_rate_limits_per_user_and_tool_from_the_config(user, admin_user):
    ToolConfig.objects.create(tool_name="test_async", rate_limit="2/h")
    for n in range(2):
        execute_tool(user=user, tool_name="test_async", arguments={"n": n}, via="api")
    with pytest.raises(RateLimited) as info:
        execute_tool(user=user, tool_name="test_async", arguments={"n": 9}, via="api")
    assert 1 <= info.value.retry_after <= 3600
    # Another user has a budget of their own.
    assert execute_tool(user=admin_user, tool_name="test_async", arguments={"n": 1}, via="api").status == Status.SUCCESS


def test_it_runs_async_tools(user):
    execution = execute_tool(user=user, tool_name="test_async", arguments={"n": 21}, via="ws")
    assert execution.status == Status.SUCCESS
    assert execution.result == {"double": 42}


def test_a_tool_error_is_recorded_as_error_with_its_message(user):
    execution = execute_tool(user=user, tool_name="test_fail", arguments={}, via="api")
    assert execution.status == Status.ERROR
    assert execution.error == "the input made no sense"


def test_a_crashing_tool_is_recorded_as_error_not_raised(user):
    execution = execute_tool(user=user, tool_name="test_crash", arguments={}, via="api")
    assert execution.status == Status.ERROR
    assert "ZeroDivisionError" in execution.error


def test_it_stops_a_tool_at_its_timeout_and_records_timeout(user):
    execution = execute_tool(user=user, tool_name="test_slow", arguments={}, via="api")
    assert execution.status == Status.TIMEOUT
    assert "0.6" in execution.error
    assert SlowLoop.steps.value > 0 and SlowLoop.steps.settled(), "the tool's code stopped for real"


def test_a_cancel_event_from_the_door_cancels_an_inline_call(user):
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    execution = execute_tool(
        user=user, tool_name="test_slow", arguments={}, via="mcp", hooks=CallHooks(cancel_event=cancel)
    )
    assert execution.status == Status.CANCELLED
    assert SlowLoop.steps.value > 0 and SlowLoop.steps.settled()


def test_cancelling_the_row_from_elsewhere_stops_an_inline_call(user):
    created = []

    def cancel_soon(execution):
        created.append(execution)

        def cancel():
            try:
                execution_cancel(execution=ToolExecution.objects.get(pk=execution.pk), user=user)
            finally:
                connection.close()  # this thread's own (on PostgreSQL: back to the pool)

        # Another thread (as another process would) cancels through the service.
        threading.Timer(0.2, cancel).start()

    execution = execute_tool(
        user=user, tool_name="test_slow", arguments={}, via="api", hooks=CallHooks(on_created=cancel_soon)
    )
    assert created and execution.pk == created[0].pk
    assert execution.status == Status.CANCELLED
    assert SlowLoop.steps.value > 0 and SlowLoop.steps.settled()


def test_cancelling_a_finished_execution_changes_nothing(user):
    execution = execute_tool(user=user, tool_name="test_echo", arguments={"value": 3}, via="api")
    again = execution_cancel(execution=execution, user=user)
    assert again.status == Status.SUCCESS and again.result == {"value": 3}


def test_background_tools_run_through_the_task_when_celery_is_eager(user):
    execution = execute_tool(user=user, tool_name="test_background", arguments={}, via="api")
    execution.refresh_from_db()
    assert execution.mode == "background"
    assert execution.status == Status.SUCCESS
    assert execution.result == {"done": True}
    assert (execution.progress, execution.progress_total, execution.progress_message) == (2, 2, "step 2")


def test_a_redelivered_background_task_does_not_run_twice(user):
    from executions.services import execution_run

    execution = execute_tool(user=user, tool_name="test_background", arguments={}, via="api")
    assert execution_run(execution_id=str(execution.pk)) is None  # already claimed and finished


def test_an_eager_background_call_gives_the_door_its_progress_callbacks(user):
    progress = []
    execute_tool(
        user=user, tool_name="test_background", arguments={}, via="ws", hooks=CallHooks(on_progress=progress.append)
    )
    assert [(e["progress"], e["message"]) for e in progress] == [(1, "step 1"), (2, "step 2")]


def test_a_caller_gone_when_the_row_is_announced_leaves_it_cancelled_not_running(user):
    def door_closed(execution):
        raise ConnectionError("the socket closed as the call started")

    with pytest.raises(ConnectionError):
        execute_tool(
            user=user, tool_name="test_echo", arguments={"value": 1}, via="ws", hooks=CallHooks(on_created=door_closed)
        )
    row = ToolExecution.objects.get()
    assert row.status == Status.CANCELLED and "went away" in row.error and row.finished is not None
