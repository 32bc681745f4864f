"""Sub-calls (ctx.call_tool): a tool's calls of other tools meet the policy of a call from
a door and are recorded as child executions (issue 15)."""

from __future__ import annotations

import time

import pytest
from pydantic import BaseModel

from executions.models import Session, ToolExecution
from executions.policy import RateLimited
from executions.services import execute_tool
from tools.base import Role, Tool, ToolContext, ToolError
from tools.models import ToolConfig
from tools.registry import registry

pytestmark = pytest.mark.django_db(transaction=True)
Status = ToolExecution.Status


class CallInput(BaseModel):
    tool: str
    arguments: dict = {}
    times: int = 1


class Caller(Tool):
    """Calls ``tool`` ``times`` times; a refusal is part of its result, as analyze_document does."""

    name = "test_caller"
    description = "Calls another tool."
    input_model = CallInput

    def run(self, arguments: CallInput, ctx: ToolContext) -> dict:
        results, errors = [], []
        for _ in range(arguments.times):
            try:
                results.append(ctx.call_tool(arguments.tool, arguments.arguments))
            except ToolError as exc:
                errors.append(str(exc))
        return {"results": results, "errors": errors}


class StrictCaller(Caller):
    """Lets a refused sub-call fail the whole call."""

    name = "test_strict_caller"

    def run(self, arguments: CallInput, ctx: ToolContext) -> dict:
        return {"result": ctx.call_tool(arguments.tool, arguments.arguments)}


class InProcessCaller(Caller):
    """Runs in the calling process, as remote tools do (no tool process, no pipe)."""

    name = "test_in_process_caller"
    runs_in_process = False


class DoubleInput(BaseModel):
    value: int


class Double(Tool):
    name = "test_double"
    description = "Doubles a number; fails on 13; calls itself for a nested sub-call on 100."
    input_model = DoubleInput

    def run(self, arguments: DoubleInput, ctx: ToolContext) -> dict:
        if arguments.value == 13:
            raise ToolError("13 is unlucky.")
        if arguments.value == 100:
            return {"nested": ctx.call_tool("test_double", {"value": 1})}
        return {"value": arguments.value * 2}


class AdminDouble(Double):
    name = "test_admin_double"
    required_role = Role.ADMIN


class Sleeper(Tool):
    name = "test_sleeper"
    description = "Sleeps past its caller's deadline."
    input_model = None
    raw_input_schema = {"type": "object", "properties": {}}

    def run(self, arguments: dict, ctx: ToolContext) -> dict:
        time.sleep(5)
        return {}


class ImpatientCaller(Caller):
    name = "test_impatient_caller"
    timeout = 0.8


TEST_TOOLS = [Caller, StrictCaller, InProcessCaller, Double, AdminDouble, Sleeper, ImpatientCaller]


@pytest.fixture(autouse=True)
def test_tools():
    for cls in TEST_TOOLS:
        registry.register(cls, replace=True)
    yield
    for cls in TEST_TOOLS:
        registry.unregister(cls.name)


def call(user, tool_name: str = "test_caller", session: Session | None = None, **arguments) -> ToolExecution:
    return execute_tool(user=user, tool_name=tool_name, arguments=arguments, via="api", session=session)


def test_it_returns_the_sub_call_result_and_records_a_child_execution(user):
    session = Session.objects.create(user=user, kind=Session.Kind.API)
    parent = call(user, tool="test_double", arguments={"value": 21}, session=session)
    assert parent.status == Status.SUCCESS, parent.error
    assert parent.result == {"results": [{"value": 42}], "errors": []}
    child = ToolExecution.objects.get(parent=parent)
    assert (child.tool_name, child.status, child.user, child.session, child.via) == (
        "test_double", Status.SUCCESS, user, session, "api"
    )
    assert child.arguments == {"value": 21}
    assert child.result == {"value": 42}
    assert child.duration_ms is not None and child.finished is not None
    assert list(parent.children.all()) == [child]
    session.refresh_from_db()
    assert session.execution_count == 2  # the sub-call is one of the session's executions


def test_it_runs_a_sub_call_of_a_tool_that_runs_in_process(user):
    parent = call(user, "test_in_process_caller", tool="test_double", arguments={"value": 2})
    assert parent.result == {"results": [{"value": 4}], "errors": []}
    assert ToolExecution.objects.get(parent=parent).status == Status.SUCCESS


def test_it_records_a_sub_call_of_a_sub_call_under_its_own_parent(user):
    parent = call(user, tool="test_double", arguments={"value": 100})
    assert parent.result == {"results": [{"nested": {"value": 2}}], "errors": []}
    child = ToolExecution.objects.get(parent=parent)
    grandchild = ToolExecution.objects.get(parent=child)
    assert (grandchild.arguments, grandchild.status) == ({"value": 1}, Status.SUCCESS)


def test_it_refuses_a_disabled_tool_and_records_nothing(user):
    ToolConfig.objects.create(tool_name="test_double", enabled=False)
    parent = call(user, tool="test_double", arguments={"value": 1})
    assert parent.result == {"results": [], "errors": ["test_double is disabled."]}
    assert not ToolExecution.objects.filter(parent=parent).exists()


def test_it_fails_the_caller_that_lets_a_refusal_through_with_the_reason(user):
    ToolConfig.objects.create(tool_name="test_double", enabled=False)
    parent = call(user, "test_strict_caller", tool="test_double", arguments={"value": 1})
    assert parent.status == Status.ERROR
    assert parent.error == "test_double is disabled."


def test_it_refuses_a_tool_the_users_role_does_not_allow(user, admin_user):
    parent = call(user, tool="test_admin_double", arguments={"value": 1})
    assert parent.result["errors"] == [
        "test_admin_double is not available to this user (its role or groups do not allow it)."
    ]
    assert not ToolExecution.objects.filter(parent=parent).exists()
    parent = call(admin_user, tool="test_admin_double", arguments={"value": 1})
    assert parent.result == {"results": [{"value": 2}], "errors": []}


def test_it_refuses_an_unknown_tool(user):
    parent = call(user, tool="test_nope")
    assert parent.result["errors"] == ["test_nope is not a known tool."]


def test_it_refuses_invalid_arguments_before_recording(user):
    parent = call(user, tool="test_double", arguments={"value": "many"})
    assert parent.result["errors"][0].startswith("test_double was called with invalid arguments:")
    assert not ToolExecution.objects.filter(parent=parent).exists()


def test_the_rate_limit_counts_one_use_of_a_sub_tool_per_calling_call(user):
    ToolConfig.objects.create(tool_name="test_double", rate_limit="2/h")
    first = call(user, tool="test_double", arguments={"value": 1}, times=3)
    assert first.result["results"] == [{"value": 2}] * 3 and not first.result["errors"]
    assert ToolExecution.objects.filter(parent=first).count() == 3
    second = call(user, tool="test_double", arguments={"value": 1}, times=2)
    assert not second.result["errors"]
    # The same window as a call from a door: two calls used up the tool's 2/h, so a
    # third caller is refused, at a door and inside a tool alike.
    with pytest.raises(RateLimited):
        call(user, "test_double", value=1)
    third = call(user, tool="test_double", arguments={"value": 1})
    assert third.result["errors"][0].startswith("test_double was refused: Rate limit exceeded; retry in")
    assert not ToolExecution.objects.filter(parent=third).exists()


def test_a_failing_sub_call_is_recorded_as_error_and_named_to_the_caller(user):
    parent = call(user, tool="test_double", arguments={"value": 13})
    assert parent.result["errors"] == ["test_double failed: 13 is unlucky."]
    child = ToolExecution.objects.get(parent=parent)
    assert (child.status, child.error) == (Status.ERROR, "13 is unlucky.")


def test_a_sub_call_cut_short_by_its_callers_deadline_is_not_left_running(user):
    parent = call(user, "test_impatient_caller", tool="test_sleeper")
    assert parent.status == Status.TIMEOUT
    child = ToolExecution.objects.get(parent=parent)
    assert child.status == Status.CANCELLED
    assert child.finished is not None


def test_a_context_without_sub_calls_says_so():
    ctx = ToolContext(user=None, execution_id="x")
    with pytest.raises(ToolError, match="test_double cannot be called from here"):
        ctx.call_tool("test_double", {"value": 1})
