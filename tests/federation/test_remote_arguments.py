"""A remote tool's arguments are checked against the remote's schema; a null for an
optional argument counts as leaving it out (MCP: a null parameter is an omitted one)."""

from __future__ import annotations

import pytest

from executions.models import ToolExecution, Via
from executions.policy import ArgumentsInvalid
from executions.services import execute_tool
from tests.federation.conftest import add_stdio
from tools.base import InvalidArguments
from tools.federation.pool import ServerConfig
from tools.federation.remote_tools import RemoteTool
from tools.federation.services import remote_server_create, remote_server_sync

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_an_optional_argument_given_as_null_is_left_out_of_the_remote_call(user):
    add_stdio("py")

    # The remote's schema says delay is a number; the remote itself would refuse null.
    execution = execute_tool(user=user, tool_name="py__count", arguments={"steps": 2, "delay": None}, via=Via.CLI)

    assert execution.status == ToolExecution.Status.SUCCESS, execution.error
    assert execution.result == {"steps": 2}


def test_a_null_header_argument_sends_no_mcp_param_header(http_server, user):
    remote_server_sync(server=remote_server_create(name="web", url=http_server.url))

    execution = execute_tool(user=user, tool_name="web__headers", arguments={"region": None}, via=Via.CLI)

    assert execution.status == ToolExecution.Status.SUCCESS, execution.error
    assert "mcp-param-region" not in execution.result["headers"]
    assert execution.result["headers"]["mcp-name"] == "headers"


def test_a_null_for_a_required_argument_is_still_refused(user):
    add_stdio("py")

    with pytest.raises(ArgumentsInvalid) as refused:
        execute_tool(user=user, tool_name="py__count", arguments={"steps": None}, via=Via.CLI)

    assert "steps" in str(refused.value.errors)


def remote_tool(properties: dict, required: list[str]) -> RemoteTool:
    config = ServerConfig(
        id=1, name="unit", transport="streamable_http", url="http://127.0.0.1:9/mcp", argv=(), headers=(),
        timeout=5.0, max_connections=1,
    )
    schema = {"type": "object", "properties": properties, "required": required}
    return RemoteTool(config, {"name": "tool", "inputSchema": schema})


def test_a_null_the_remote_schema_allows_is_passed_on():
    tool = remote_tool({"note": {"type": ["string", "null"]}, "flag": {"type": "boolean"}}, [])

    assert tool.validate({"note": None, "flag": None}) == {"note": None}
    assert tool.validate({"note": None}) == {"note": None}


def test_arguments_the_schema_refuses_otherwise_are_refused_as_given():
    tool = remote_tool({"flag": {"type": "boolean"}, "n": {"type": "integer"}}, [])

    with pytest.raises(InvalidArguments) as refused:
        tool.validate({"flag": None, "n": "three"})

    # The errors name what was given, the null included.
    assert {error["loc"] for error in refused.value.errors} == {"flag", "n"}


def test_a_schema_that_refers_outside_itself_is_never_fetched_and_the_remote_checks_the_arguments():
    # SEP-2106: a network $ref is not dereferenced; the hub cannot check it, so the remote does.
    tool = remote_tool({"user": {"$ref": "http://127.0.0.1:9/user.json"}}, ["user"])

    assert tool.validate({"user": {"id": 7}}) == {"user": {"id": 7}}
    with pytest.raises(InvalidArguments):
        tool.validate([])
