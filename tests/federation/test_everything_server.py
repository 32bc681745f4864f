"""@modelcontextprotocol/server-everything (TypeScript SDK, 2025-11-25) over stdio via Node 22."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from executions.models import ToolExecution, Via
from executions.services import CallHooks, execute_tool
from tests.federation.conftest import EVERYTHING, NODE
from tools.registry import registry

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not NODE.exists() or not EVERYTHING.exists(), reason="run scripts/install-test-deps (npm ci)"),
]


@pytest.fixture
def everything() -> str:
    out = io.StringIO()
    call_command("mcp_servers", "add", "everything", "--command", f"{NODE} {EVERYTHING} stdio", stdout=out)
    return out.getvalue()


def test_it_syncs_the_reference_servers_tools_over_the_handshake_era(everything):
    assert "protocol 2025-11-25" in everything
    assert "everything__echo" in everything
    echo = registry.get("everything__echo")
    assert echo.input_schema["properties"]["message"]["type"] == "string"
    assert echo.cacheable  # it marks echo read-only and idempotent
    assert registry.get("everything__get-structured-content").output_schema is not None


def test_it_calls_the_reference_server_and_records_it(everything, user):
    execution = execute_tool(user=user, tool_name="everything__echo", arguments={"message": "hi"}, via=Via.CLI)

    assert execution.status == ToolExecution.Status.SUCCESS, execution.error
    assert execution.result == {"content": [{"type": "text", "text": "Echo: hi"}]}
    assert execution.server == "everything"


def test_it_passes_the_reference_servers_progress_through(everything, user):
    seen = []

    execution = execute_tool(
        user=user, tool_name="everything__trigger-long-running-operation", arguments={"duration": 1, "steps": 3},
        via=Via.CLI, hooks=CallHooks(on_progress=seen.append),
    )

    assert execution.status == ToolExecution.Status.SUCCESS, execution.error
    assert [(e["progress"], e["total"]) for e in seen] == [(1, 3), (2, 3), (3, 3)]
