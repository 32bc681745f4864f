"""A remote's malformed answer fails that call only; a 2026-07-28 result without resultType is
complete; Mcp-Param-* headers on every call."""

from __future__ import annotations

import sys

import pytest

from executions.models import ToolExecution, Via
from executions.services import execute_tool
from tests.federation.conftest import SERVERS
from tools.federation.hub import federation
from tools.federation.models import RemoteServer
from tools.federation.services import remote_server_create, remote_server_sync
from tools.registry import registry

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def add_raw() -> RemoteServer:
    server = remote_server_create(name="raw", command=f"{sys.executable} {SERVERS / 'raw_server.py'}")
    return remote_server_sync(server=server)


@pytest.mark.parametrize("tool", ["malformed", "nocontent"])
def test_a_malformed_result_fails_that_call_readably_and_leaves_the_server_healthy(user, tool):
    add_raw()

    execution = execute_tool(user=user, tool_name=f"raw__{tool}", arguments={}, via=Via.CLI)

    assert execution.status == ToolExecution.Status.ERROR
    assert "Remote server 'raw' answered" in execution.error
    assert "malformed" in execution.error or "content" in execution.error
    assert "Traceback" not in execution.error
    assert federation().health.get("raw").healthy is not False
    assert RemoteServer.objects.get(name="raw").healthy is True
    assert registry.get("raw__ok").available
    # The same pooled session still serves the next call.
    assert (
        execute_tool(user=user, tool_name="raw__ok", arguments={}, via=Via.CLI).status == ToolExecution.Status.SUCCESS
    )
    assert federation().pools.existing(RemoteServer.objects.get(name="raw").pk).peak == 1


def test_a_2026_result_without_result_type_is_taken_as_complete(user):
    server = remote_server_create(name="raw", command=f"{sys.executable} {SERVERS / 'raw_server.py'} --modern")
    server = remote_server_sync(server=server)
    assert server.protocol_version == "2026-07-28"

    execution = execute_tool(user=user, tool_name="raw__ok", arguments={}, via=Via.CLI)

    assert execution.status == ToolExecution.Status.SUCCESS, execution.error
    assert execution.result == {"content": [{"type": "text", "text": "fine"}]}
    assert RemoteServer.objects.get(name="raw").healthy is True


def test_a_session_that_never_listed_still_sends_mcp_param_headers(http_server, user):
    server = remote_server_sync(server=remote_server_create(name="web", url=http_server.url))
    # A fresh pool: its session has not listed tools (as after a restart, or on a second session).
    federation().pools.drop(server.pk)

    execution = execute_tool(user=user, tool_name="web__headers", arguments={"region": "eu-west"}, via=Via.CLI)

    assert execution.status == ToolExecution.Status.SUCCESS, execution.error
    assert execution.result["headers"].get("mcp-param-region") == "eu-west"
    # Sent with the first request: the server did not have to reject it (HEADER_MISMATCH)
    # and make the client re-list and send it again.
    sessions = federation().pools.existing(server.pk)._idle
    assert sessions and not any(s.http_error for s in sessions), [s.http_error for s in sessions]
