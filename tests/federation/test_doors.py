"""Remote tools on the hub's other doors: its own MCP server and `manage.py run_tool`;
and the hub's per-tool policy (ToolConfig, rate limit) applied to them."""

from __future__ import annotations

import io
import json
from typing import Any

import anyio
import mcp_types as types
import pytest
from channels.db import database_sync_to_async
from django.core.management import call_command
from mcp import Client

from executions import policy, services
from executions.models import Session, ToolExecution, Via
from executions.policy import RateLimited, ToolNotFound
from executions.services import execute_tool
from mcp_server.server import Caller, HubServer
from tests.federation.conftest import add_stdio
from tools.models import ToolConfig

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ERAS = ["legacy", "2026-07-28"]


@pytest.fixture
def hub(user):
    session = services.session_start(user=user, kind=Session.Kind.MCP, client_info={})
    server = HubServer(stdio_caller=Caller(user, session))
    yield server
    server.close()


def rows(**filters: Any) -> list[ToolExecution]:
    return list(ToolExecution.objects.filter(**filters).order_by("created"))


@pytest.mark.parametrize("mode", ERAS)
async def test_the_hubs_mcp_server_lists_and_calls_remote_tools_and_records_the_server(hub, mode):
    await database_sync_to_async(add_stdio)("py")
    progress: list[tuple[float, float | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total))

    async with Client(hub.server, mode=mode) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
        echoed = await client.call_tool("py__echo", {"text": "hi"})
        counted = await client.call_tool("py__count", {"steps": 3}, progress_callback=on_progress)

    assert {"py__echo", "py__add", "py__count"} <= set(listed)
    assert listed["py__echo"].input_schema["properties"]["text"]["type"] == "string"
    assert listed["py__echo"].annotations.read_only_hint is True
    assert echoed.is_error is False and json.loads(echoed.content[0].text) == {"text": "hi"}
    assert counted.is_error is False and progress == [(1, 3), (2, 3), (3, 3)]
    [execution] = await database_sync_to_async(rows)(tool_name="py__echo")
    assert (execution.via, execution.server, execution.status) == ("mcp", "py", "success")


async def test_a_handshake_era_mcp_client_hears_when_a_remote_servers_tools_change(hub):
    await database_sync_to_async(add_stdio)("py")
    heard = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            heard.set()

    async with Client(hub.server, mode="legacy", message_handler=on_message) as client:
        before = {t.name for t in (await client.list_tools()).tools}
        await client.call_tool("py__grow", {})
        with anyio.fail_after(15):
            await heard.wait()
        after = {t.name for t in (await client.list_tools()).tools}

    assert "py__extra" not in before and "py__extra" in after


def test_run_tool_runs_a_remote_tool_and_records_the_server(admin_user):
    add_stdio("py")
    out = io.StringIO()

    call_command("run_tool", "py__add", "--args", '{"a": 2, "b": 40}', stdout=out)

    assert json.loads(out.getvalue()) == {"sum": 42}
    [execution] = rows(tool_name="py__add")
    assert (execution.via, execution.server, execution.user) == (Via.CLI, "py", admin_user)


def test_the_hubs_tool_config_and_rate_limit_apply_to_remote_tools(user):
    add_stdio("py")
    ToolConfig.objects.create(tool_name="py__echo", enabled=False)
    ToolConfig.objects.create(tool_name="py__add", rate_limit="1/m")

    assert "py__echo" not in {t.name for t in policy.tools_for_user(user)}
    with pytest.raises(ToolNotFound):
        execute_tool(user=user, tool_name="py__echo", arguments={"text": "hi"}, via=Via.CLI)
    first = execute_tool(user=user, tool_name="py__add", arguments={"a": 1, "b": 1}, via=Via.CLI)
    assert first.status == ToolExecution.Status.SUCCESS, first.error
    with pytest.raises(RateLimited):
        execute_tool(user=user, tool_name="py__add", arguments={"a": 1, "b": 1}, via=Via.CLI)
