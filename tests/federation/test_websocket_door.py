"""Remote tools on the add-in's WebSocket door: listed, called with progress, changes announced."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from executions.models import ToolExecution
from tests.federation.conftest import add_stdio
from tests.realtime.test_addin_consumer import TIMEOUT, receive_until, signed_in

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


async def test_the_task_pane_lists_and_runs_a_remote_tool_with_its_progress(token):
    await database_sync_to_async(add_stdio)("py")
    communicator = await signed_in(token)

    await communicator.send_json_to({"type": "tools_list", "id": "t"})
    frame = await communicator.receive_json_from(timeout=TIMEOUT)
    by_name = {tool["name"]: tool for tool in frame["tools"]}
    assert by_name["py__count"]["source"] == "py" and by_name["py__count"]["available"] is True

    await communicator.send_json_to({"type": "tool_execute", "id": "r", "tool": "py__count", "arguments": {"steps": 3}})
    accepted = await communicator.receive_json_from(timeout=TIMEOUT)
    result, before = await receive_until(communicator, "execution_result")

    assert [(f["progress"], f["total"]) for f in before if f["type"] == "execution_progress"] == [
        (1, 3),
        (2, 3),
        (3, 3),
    ]
    assert result["status"] == "success" and result["result"] == {"steps": 3}
    execution = await ToolExecution.objects.aget(pk=accepted["execution_id"])
    assert (execution.via, execution.server) == ("ws", "py")
    await communicator.disconnect()


async def test_the_task_pane_hears_when_a_remote_servers_tools_change(token):
    await database_sync_to_async(add_stdio)("py")
    communicator = await signed_in(token)

    await communicator.send_json_to({"type": "tool_execute", "id": "g", "tool": "py__grow", "arguments": {}})
    changed, _ = await receive_until(communicator, "tools_changed")

    assert changed["type"] == "tools_changed"
    await communicator.send_json_to({"type": "tools_list", "id": "again"})
    frame, _ = await receive_until(communicator, "tools")
    assert "py__extra" in {tool["name"] for tool in frame["tools"]}
    await communicator.disconnect()
