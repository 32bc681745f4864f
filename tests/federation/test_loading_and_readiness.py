"""Stored listings reach the registry without network I/O; /readyz reads stored health."""

from __future__ import annotations

import socket

import pytest
from django.apps import apps
from django.utils import timezone

from executions.models import Via
from executions.policy import ToolUnavailable, tools_for_user
from executions.services import execute_tool
from tests.federation.conftest import wait_for
from tools.federation.hub import federation
from tools.federation.models import RemoteServer
from tools.federation.services import signals_quiet
from tools.registry import registry

pytestmark = pytest.mark.django_db(transaction=True)

LISTING = [
    {
        "name": "lookup",
        "description": "Look a word up.",
        "inputSchema": {"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]},
        "annotations": {"readOnlyHint": True, "idempotentHint": True},
    },
    {"name": "write", "inputSchema": {"type": "object"}},
]


def stored(name: str, **fields: object) -> RemoteServer:
    # Written as by another process (or before a restart): nothing registered yet. Synced
    # before, so loading it connects to nothing (health checks are off in these tests).
    with signals_quiet():
        server = RemoteServer.objects.create(
            name=name, url="http://127.0.0.1:9/mcp", tools=LISTING, last_synced=timezone.now(), **fields
        )
    registry.replace_source(name, [])
    apps.get_app_config("federation").renew_hub()
    return server


def test_the_first_registry_read_registers_the_stored_tools_without_connecting():
    stored("dict", healthy=True)

    tool = registry.get("dict__lookup")

    assert tool is not None and tool.source == "dict"
    assert tool.description == "Look a word up."
    assert tool.input_schema["required"] == ["word"]
    assert tool.annotations.read_only and tool.cacheable
    assert not registry.get("dict__write").cacheable
    assert registry.get("dict__write").annotations.destructive  # MCP's default when a tool says nothing


def test_tools_of_a_failing_server_stay_listed_but_calls_are_refused_with_the_reason(user):
    stored("dict", healthy=False, last_error="ConnectError: All connection attempts failed")

    assert "dict__lookup" in [t.name for t in tools_for_user(user)]
    assert registry.get("dict__lookup").describe()["available"] is False
    with pytest.raises(ToolUnavailable, match="remote server 'dict' is failing: ConnectError"):
        execute_tool(user=user, tool_name="dict__lookup", arguments={"word": "hub"}, via=Via.CLI)


def test_a_server_another_process_adds_later_is_offered_from_its_stored_listing_before_any_connection(settings):
    settings.FEDERATION_RELOAD_INTERVAL = 0.2
    stored("first", healthy=True)
    assert registry.get("first__lookup") is not None  # loaded: from now on the monitor notices new rows
    with socket.create_server(("127.0.0.1", 0)) as silent:  # takes connections and never answers
        # Another process added it and stored what it listed (no signal reaches this process).
        RemoteServer.objects.bulk_create([RemoteServer(
            name="dict", url=f"http://127.0.0.1:{silent.getsockname()[1]}/mcp", tools=LISTING, healthy=True,
            last_synced=timezone.now(), timeout=5,
        )])

        # The sync that follows waits for the silent server; the stored tools do not.
        assert wait_for(lambda: registry.get("dict__lookup") is not None, timeout=3)
        assert federation().health.get("dict").healthy is True
    # The server hangs up: the sync ends, and says so.
    assert wait_for(lambda: federation().health.get("dict").healthy is False)


def test_a_disabled_servers_tools_are_not_offered():
    stored("dict", enabled=False, healthy=True)

    assert registry.get("dict__lookup") is None


def test_availability_changes_notify_the_registry_listeners():
    stored("dict", healthy=True)
    registry.all()
    changes = []

    def listener() -> None:
        changes.append(1)

    registry.add_listener(listener)
    try:
        federation().health.set("dict", False, "down")
        federation().health.set("dict", False, "still down")
        federation().health.set("dict", True)
    finally:
        registry.remove_listener(listener)

    assert len(changes) == 2


def test_readyz_reports_each_enabled_remote_server_from_its_stored_health(client):
    stored("up", healthy=True)
    stored("down", healthy=False, last_error="ConnectError: refused")
    stored("new")
    stored("off", enabled=False, healthy=False)

    response = client.get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["remote:up"]["status"] == "ok"
    assert body["checks"]["remote:down"] == {"status": "degraded", "error": "ConnectError: refused"}
    assert body["checks"]["remote:new"]["status"] == "ok"
    assert "remote:off" not in body["checks"]


def test_an_older_listing_never_replaces_a_newer_one():
    # A slow health check's answer can arrive after the re-list that followed a
    # list_changed; the listing read last by the pool is the one kept.
    import mcp_types as types

    from tools.federation.pool import Listing
    from tools.federation.services import remote_server_store_listing

    server = stored("dict", healthy=False, last_error="down")

    def listing(seq: int, *names: str) -> Listing:
        tools = [types.Tool(name=n, input_schema={"type": "object"}) for n in names]
        return Listing(tools=tools, protocol_version="2026-07-28", seq=seq)

    remote_server_store_listing(server=server, listing=listing(7, "lookup", "extra"))
    server = remote_server_store_listing(server=server, listing=listing(6, "lookup"))

    assert [t["name"] for t in server.tools] == ["lookup", "extra"]
    assert registry.get("dict__extra") is not None
    assert server.healthy is True and server.last_error == ""  # the old answer still shows it is up


def test_a_failure_stored_late_does_not_overwrite_a_check_that_reached_the_server_after_it():
    from datetime import timedelta

    from tools.federation.services import remote_server_record_failure

    checked = timezone.now()
    stored("dict", healthy=True, last_checked=checked)

    # A call failed just before the check succeeded; its record job ran after the check.
    remote_server_record_failure(name="dict", error="ConnectError", observed_at=checked - timedelta(seconds=1))
    server = RemoteServer.objects.get(name="dict")
    assert (server.healthy, server.last_error, server.last_checked) == (True, "", checked)

    # A failure seen after the last check is stored.
    remote_server_record_failure(name="dict", error="ConnectError: refused")
    server = RemoteServer.objects.get(name="dict")
    assert (server.healthy, server.last_error) == (False, "ConnectError: refused")
    assert server.last_checked > checked
