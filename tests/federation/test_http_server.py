"""A Python SDK server over Streamable HTTP in its own process: the hub as a new user meets it."""

from __future__ import annotations

import io
import threading
import time

import pytest
from django.core.management import call_command

from executions.models import ToolExecution, Via
from executions.policy import ToolUnavailable
from executions.services import CallHooks, execute_tool
from tests.federation.conftest import HttpServer, in_thread, set_once_started, wait_for, wait_for_remote_call
from tools.federation import runtime
from tools.federation.hub import federation
from tools.federation.models import RemoteServer
from tools.registry import registry

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

Status = ToolExecution.Status


def add_web(http_server: HttpServer, *extra: str) -> str:
    out = io.StringIO()
    call_command("mcp_servers", "add", "web", "--url", http_server.url, *extra, stdout=out)
    return out.getvalue()


def test_an_added_http_server_has_its_tools_in_the_rest_api_and_calls_name_the_server(http_server, api_client):
    output = add_web(http_server)

    assert "web__echo" in output
    assert "protocol 2026-07-28" in output
    listed = {t["name"]: t for t in api_client.get("/api/v1/tools/").json()}
    assert listed["web__add"]["source"] == "web"
    assert listed["web__add"]["available"] is True
    assert listed["web__echo"]["annotations"]["readOnlyHint"] is True

    response = api_client.post("/api/v1/tools/web__add/execute/", {"arguments": {"a": 20, "b": 22}}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "success"
    assert body["result"] == {"sum": 42}
    assert ToolExecution.objects.get(pk=body["id"]).server == "web"


def test_the_hub_sends_the_servers_own_credentials_never_the_callers_token(http_server, api_client, token):
    add_web(http_server, "--secret", "server-secret", "--header", "X-Team: blue")

    response = api_client.post("/api/v1/tools/web__headers/execute/", {"arguments": {}}, format="json")

    received = response.json()["result"]["headers"]
    assert received["authorization"] == "Bearer server-secret"
    assert received["x-team"] == "blue"
    assert not any(token in value for value in received.values())


def test_without_a_secret_no_authorization_is_sent_whoever_calls(http_server, api_client, token):
    add_web(http_server)

    response = api_client.post("/api/v1/tools/web__headers/execute/", {"arguments": {}}, format="json")

    received = response.json()["result"]["headers"]
    assert "authorization" not in received
    assert not any(token in value for value in received.values())


def test_a_server_killed_while_idle_fails_the_next_call_at_once_and_is_marked_failing(http_server, user):
    add_web(http_server, "--timeout", "10")
    assert (
        execute_tool(user=user, tool_name="web__add", arguments={"a": 1, "b": 2}, via=Via.CLI).status == Status.SUCCESS
    )
    http_server.kill()
    started = time.monotonic()

    execution = execute_tool(user=user, tool_name="web__add", arguments={"a": 2, "b": 2}, via=Via.CLI)

    assert time.monotonic() - started < 10
    assert execution.status == Status.ERROR
    assert execution.error.startswith("Remote server 'web' is unavailable")
    assert federation().health.get("web").healthy is False
    assert wait_for(lambda: RemoteServer.objects.get(name="web").healthy is False)


def test_a_server_killed_mid_call_gives_a_clear_error_and_comes_back_after_a_restart(http_server, user, client):
    add_web(http_server, "--timeout", "10")
    outcome: list[ToolExecution] = []
    call = in_thread(
        lambda: outcome.append(execute_tool(user=user, tool_name="web__sleep", arguments={"seconds": 30}, via=Via.CLI))
    )
    wait_for_remote_call("web__sleep")
    http_server.kill()
    killed = time.monotonic()
    call.join(30)

    (execution,) = outcome
    assert time.monotonic() - killed < 10  # within the server's timeout
    assert execution.status == Status.ERROR
    assert "Remote server 'web' is unavailable" in execution.error
    assert federation().health.get("web").healthy is False
    assert wait_for(lambda: RemoteServer.objects.get(name="web").healthy is False)
    # Still listed, but callers are told why they cannot use it.
    assert registry.get("web__add") is not None and not registry.get("web__add").available
    with pytest.raises(ToolUnavailable, match="remote server 'web' is failing"):
        execute_tool(user=user, tool_name="web__add", arguments={"a": 1, "b": 2}, via=Via.CLI)
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["remote:web"]["status"] == "degraded"
    assert ready.json()["status"] == "degraded"

    http_server.start()
    out = io.StringIO()
    call_command("mcp_servers", "check", "web", stdout=out)

    assert "web is healthy" in out.getvalue()
    again = execute_tool(user=user, tool_name="web__add", arguments={"a": 1, "b": 2}, via=Via.CLI)
    assert again.status == Status.SUCCESS, again.error
    assert client.get("/readyz").json()["checks"]["remote:web"]["status"] == "ok"


def test_the_health_monitor_marks_a_stopped_server_failing_and_brings_it_back(http_server, user, settings):
    add_web(http_server)
    settings.FEDERATION_HEALTH_INTERVAL = 0.3
    runtime.start()

    http_server.kill()
    assert wait_for(lambda: federation().health.get("web").healthy is False)
    assert not registry.get("web__echo").available

    http_server.start()
    assert wait_for(lambda: federation().health.get("web").healthy is True)
    execution = execute_tool(user=user, tool_name="web__echo", arguments={"text": "back"}, via=Via.CLI)
    assert execution.result == {"text": "back"}


def test_a_server_added_by_another_process_is_picked_up_without_a_restart(http_server, settings):
    settings.FEDERATION_RELOAD_INTERVAL = 0.3
    runtime.start()
    # A row written as another process would: no signal reaches this process's registry.
    RemoteServer.objects.bulk_create([RemoteServer(name="web", url=http_server.url)])

    assert wait_for(lambda: registry.get("web__echo") is not None)
    assert RemoteServer.objects.get(name="web").healthy is True


def test_an_unreachable_server_is_retried_with_a_growing_backoff_and_reconnects_when_it_returns(settings):
    from tests.federation.conftest import free_port
    from tools.federation.pool import RemoteUnavailable
    from tools.federation.services import get_client, remote_server_create

    settings.FEDERATION_BACKOFF_MAX = 1.5
    web = HttpServer(port=free_port())  # not started yet
    pool = get_client(remote_server_create(name="web", url=web.url).pk)

    def call() -> dict:
        return federation().loop.run_sync(pool.call_tool("add", {"a": 1, "b": 2}), timeout=15).structured_content

    with pytest.raises(RemoteUnavailable, match="ConnectError"):
        call()
    # Within the backoff a call does not try to connect; it says when the next try is.
    with pytest.raises(RemoteUnavailable, match=r"ConnectError.*\(next attempt in 0\.[0-5] s\)"):
        call()
    for _ in range(3):  # health checks try regardless; each failure doubles the wait, up to the maximum
        with pytest.raises(RemoteUnavailable):
            federation().loop.run_sync(pool.list_tools(force=True), timeout=15)
    with pytest.raises(RemoteUnavailable, match=r"\(next attempt in 1\.[0-5] s\)"):
        call()

    web.start()
    try:

        def answered() -> bool:
            try:
                return call() == {"sum": 3}
            except RemoteUnavailable:
                return False

        assert wait_for(answered)
    finally:
        web.kill()


def test_a_list_change_announced_over_http_resyncs_the_tools(http_server, user):
    # 2026-07-28 over Streamable HTTP: the change comes on the session's subscriptions/listen stream.
    add_web(http_server)
    assert registry.get("web__extra") is None

    execution = execute_tool(user=user, tool_name="web__grow", arguments={}, via=Via.CLI)

    assert execution.status == Status.SUCCESS, execution.error
    assert wait_for(lambda: registry.get("web__extra") is not None)
    assert execute_tool(user=user, tool_name="web__extra", arguments={}, via=Via.CLI).result == {"extra": "yes"}


def test_a_listen_stream_the_server_ends_is_opened_again_and_changes_still_arrive(http_server, user):
    add_web(http_server)
    assert execute_tool(user=user, tool_name="web__drop_listeners", arguments={}, via=Via.CLI).status == Status.SUCCESS

    # The pool's session listens again; a change announced after that still resyncs.
    def grown() -> bool:
        execute_tool(user=user, tool_name="web__grow", arguments={}, via=Via.CLI)
        return wait_for(lambda: registry.get("web__extra") is not None, timeout=2)

    assert wait_for(grown, timeout=20, step=0.5)


def test_a_cancelled_call_is_cancelled_at_the_remote_over_http(http_server, user):
    add_web(http_server)
    cancel = threading.Event()
    set_once_started(cancel, "web__sleep")

    execution = execute_tool(
        user=user, tool_name="web__sleep", arguments={"seconds": 30}, via=Via.CLI, hooks=CallHooks(cancel_event=cancel)
    )

    assert execution.status == ToolExecution.Status.CANCELLED
    # One server process for every session: its handler of that call was cancelled.
    assert wait_for(
        lambda: execute_tool(user=user, tool_name="web__cancellations", arguments={}, via=Via.CLI).result
        == {"cancelled": [30]},
        timeout=10,
    )
