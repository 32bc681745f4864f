"""A tool configuration may name the Django groups that see and call the tool: outside them
a user neither lists nor calls it (not found, as if disabled) on every door: the service,
REST, MCP (in memory, the same handlers as /mcp and stdio), the WebSocket and the CLI;
remote (federated) tools too, since they are resolved the same way."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError
from mcp import Client
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import token_create
from executions import policy, services
from executions.models import Session
from mcp_server.server import Caller, HubServer
from tools.base import Tool, ToolContext
from tools.models import ToolConfig
from tools.registry import registry

pytestmark = pytest.mark.django_db(transaction=True)


class RemoteEcho(Tool):
    """Stands in for a federated tool: the registry knows it by its server's namespace."""

    name = "demo__echo"
    description = "Echoes."
    source = "demo"
    raw_input_schema = {"type": "object", "properties": {"text": {"type": "string"}}}

    def run(self, arguments: dict, ctx: ToolContext) -> dict:
        return {"text": arguments.get("text", "")}


@pytest.fixture
def limited(db):
    registry.register(RemoteEcho, replace=True)
    editors = Group.objects.create(name="editors")
    for name in ("text_statistics", "demo__echo"):
        ToolConfig.objects.create(tool_name=name).groups.add(editors)
    insider = User.objects.create_user(username="insider", password="x-insider-1")
    insider.groups.add(editors)
    outsider = User.objects.create_user(username="outsider", password="x-outsider-1")
    yield insider, outsider
    registry.unregister(RemoteEcho.name)


@pytest.mark.parametrize("tool", ["text_statistics", "demo__echo"])
def test_the_service_hides_a_group_tool_from_others(limited, tool):
    insider, outsider = limited
    assert tool in {t.name for t in policy.tools_for_user(insider)}
    assert tool not in {t.name for t in policy.tools_for_user(outsider)}
    assert "spell_check" in {t.name for t in policy.tools_for_user(outsider)}
    with pytest.raises(policy.ToolNotFound):
        services.execute_tool(user=outsider, tool_name=tool, arguments={"text": "Hi."}, via="cli")
    assert services.execute_tool(user=insider, tool_name=tool, arguments={"text": "Hi."}, via="cli").status == "success"


def test_rest_answers_a_group_tool_404_outside_the_group(limited):
    insider, outsider = limited
    outside, inside = APIClient(), APIClient()
    outside.credentials(HTTP_AUTHORIZATION=f"Bearer {token_create(user=outsider)[1]}")
    inside.credentials(HTTP_AUTHORIZATION=f"Bearer {token_create(user=insider)[1]}")

    assert "text_statistics" not in {t["name"] for t in outside.get("/api/v1/tools/").json()}
    assert outside.get("/api/v1/tools/text_statistics/").status_code == 404
    refused = outside.post("/api/v1/tools/text_statistics/execute/", {"arguments": {"text": "Hi."}}, format="json")
    assert refused.status_code == 404 and refused.json()["code"] == "tool_not_found"
    assert (
        inside.post("/api/v1/tools/text_statistics/execute/", {"arguments": {"text": "Hi."}}, format="json").status_code
        == 200
    )


async def test_mcp_neither_lists_nor_calls_a_group_tool_outside_the_group(limited):
    _insider, outsider = limited
    session = await database_sync_to_async(services.session_start)(user=outsider, kind=Session.Kind.MCP)
    hub = HubServer(stdio_caller=Caller(outsider, session))
    try:
        async with Client(hub.server) as client:
            listed = {t.name for t in (await client.list_tools()).tools}
            with pytest.raises(Exception) as refused:
                await client.call_tool("demo__echo", {"text": "Hi."})
    finally:
        hub.close()
    assert "demo__echo" not in listed and "text_statistics" not in listed
    assert "Unknown tool" in str(refused.value)


async def test_the_websocket_neither_lists_nor_calls_a_group_tool_outside_the_group(limited):
    from tests.realtime.test_addin_consumer import signed_in

    _insider, outsider = limited
    token = (await database_sync_to_async(token_create)(user=outsider))[1]
    communicator = await signed_in(token)
    try:
        await communicator.send_json_to({"type": "tools_list", "id": 1})
        tools = await communicator.receive_json_from(timeout=10)
        await communicator.send_json_to(
            {"type": "tool_execute", "id": 2, "tool": "text_statistics", "arguments": {"text": "Hi."}}
        )
        refused = await communicator.receive_json_from(timeout=10)
    finally:
        await communicator.disconnect()
    assert "text_statistics" not in {t["name"] for t in tools["tools"]}
    assert refused["type"] == "error" and refused["code"] == "tool_not_found"


def test_the_cli_refuses_a_group_tool_for_others(limited):
    _insider, _outsider = limited
    with pytest.raises(CommandError):
        call_command("run_tool", "text_statistics", "--args", '{"text": "Hi."}', "--user", "outsider")


def test_hub_admins_see_every_tool(limited):
    admin = User.objects.create_user(username="boss", password="x-boss-123", role=User.Role.ADMIN)
    assert {"text_statistics", "demo__echo"} <= {t.name for t in policy.tools_for_user(admin)}
