"""A Python SDK server over stdio, federated: sync, calls through the service, protocol handling."""

from __future__ import annotations

import logging
import threading

import pytest

from executions.models import ToolExecution, Via
from executions.services import CallHooks, execute_tool
from tests.federation.conftest import add_stdio, in_thread, set_once_started, wait_for, wait_for_remote_call
from tools.federation.hub import federation
from tools.federation.models import RemoteServer
from tools.registry import registry

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

Status = ToolExecution.Status


def test_it_syncs_the_tools_under_the_server_namespace_with_schemas_and_annotations(user):
    server = add_stdio("py")

    assert server.healthy is True
    assert server.protocol_version == "2026-07-28"
    names = [t.name for t in registry.all() if t.source == "py"]
    assert "py__echo" in names and "py__count" in names
    echo = registry.get("py__echo")
    assert echo.input_schema["properties"]["text"]["type"] == "string"
    assert echo.annotations.read_only and echo.annotations.idempotent
    assert echo.cacheable
    assert not registry.get("py__add").cacheable


def test_it_calls_a_remote_tool_through_execute_tool_and_records_the_server(user):
    add_stdio("py")

    execution = execute_tool(user=user, tool_name="py__add", arguments={"a": 2, "b": 3}, via=Via.CLI)

    assert execution.status == Status.SUCCESS, execution.error
    assert execution.result == {"sum": 5}
    assert execution.server == "py"
    assert ToolExecution.objects.get(pk=execution.pk).server == "py"


def test_it_validates_arguments_against_the_remote_schema_before_calling(user):
    from executions.policy import ArgumentsInvalid

    add_stdio("py")

    with pytest.raises(ArgumentsInvalid):
        execute_tool(user=user, tool_name="py__add", arguments={"a": "two", "b": 3}, via=Via.CLI)


def test_it_caches_only_read_only_idempotent_remote_tools(user):
    add_stdio("py")

    first = execute_tool(user=user, tool_name="py__echo", arguments={"text": "hi"}, via=Via.CLI)
    second = execute_tool(user=user, tool_name="py__echo", arguments={"text": "hi"}, via=Via.CLI)
    pid_a = execute_tool(user=user, tool_name="py__pid", arguments={}, via=Via.CLI)
    pid_b = execute_tool(user=user, tool_name="py__pid", arguments={}, via=Via.CLI)

    assert (first.cache_hit, second.cache_hit) == (False, True)
    assert second.result == {"text": "hi"}
    assert (pid_a.cache_hit, pid_b.cache_hit) == (False, False)


def test_it_passes_remote_progress_into_the_execution(user):
    add_stdio("py")
    seen = []

    execution = execute_tool(
        user=user, tool_name="py__count", arguments={"steps": 4}, via=Via.CLI, hooks=CallHooks(on_progress=seen.append)
    )

    assert execution.status == Status.SUCCESS, execution.error
    assert [(e["progress"], e["total"], e["message"]) for e in seen] == [
        (1, 4, "step 1"), (2, 4, "step 2"), (3, 4, "step 3"), (4, 4, "step 4"),
    ]
    execution.refresh_from_db()
    assert (execution.progress, execution.progress_total) == (4, 4)


def test_it_reports_a_remote_tool_error_as_an_error_execution(user):
    add_stdio("py")

    execution = execute_tool(user=user, tool_name="py__fail", arguments={"reason": "no luck"}, via=Via.CLI)

    assert execution.status == Status.ERROR
    assert "no luck" in execution.error


@pytest.mark.parametrize("mode, version", [("stdio", "2026-07-28"), ("stdio-legacy", "2025-11-25")])
def test_it_resyncs_when_the_remote_says_its_tool_list_changed(user, mode, version):
    server = add_stdio("py", mode=mode)
    assert server.protocol_version == version
    assert registry.get("py__extra") is None
    changes = []

    def listener() -> None:
        changes.append(1)

    registry.add_listener(listener)
    try:
        # While grow still holds its session, another session would be another server
        # process, which has no `extra`: the re-list must use the announcing session.
        execution = execute_tool(user=user, tool_name="py__grow", arguments={"linger": 1.0}, via=Via.CLI)
        assert execution.status == Status.SUCCESS, execution.error

        assert wait_for(lambda: registry.get("py__extra") is not None)
    finally:
        registry.remove_listener(listener)
    assert changes
    assert "extra" in [t["name"] for t in RemoteServer.objects.get(name="py").tools]
    extra = execute_tool(user=user, tool_name="py__extra", arguments={}, via=Via.CLI)
    assert extra.result == {"extra": "yes"}


# The command line has no client to ask: the hub refuses in the remote's call, naming why.
REFUSALS = {
    "sampling": "This call came through a door that cannot send sampling/createMessage to its client.",
    "elicitation": "This call came through a door that cannot send elicitation/create to its client.",
    "roots": "This call came through a door that cannot send roots/list to its client.",
}


@pytest.mark.parametrize("kind", list(REFUSALS))
def test_a_handshake_era_servers_request_to_the_hub_is_answered_with_an_error_not_left_hanging(user, kind):
    add_stdio("py", mode="stdio-legacy")

    execution = execute_tool(user=user, tool_name="py__ask", arguments={"kind": kind}, via=Via.CLI)

    # The remote got a JSON-RPC error back in the middle of its call, and said so.
    assert execution.status == Status.SUCCESS, execution.error
    assert execution.result == {"error": REFUSALS[kind]}


@pytest.mark.parametrize("kind", list(REFUSALS))
def test_a_2026_servers_input_request_is_refused_with_a_clear_error(user, kind):
    add_stdio("py")

    execution = execute_tool(user=user, tool_name="py__ask", arguments={"kind": kind}, via=Via.CLI)

    assert execution.status == Status.ERROR
    assert execution.error == f"Remote server 'py' refused the call: {REFUSALS[kind]}"
    after = execute_tool(user=user, tool_name="py__add", arguments={"a": 1, "b": 1}, via=Via.CLI)
    assert after.status == Status.SUCCESS, after.error


@pytest.mark.parametrize("mode", ["stdio", "stdio-legacy"])
def test_it_logs_remote_log_messages_under_the_server_name(user, caplog, mode):
    add_stdio("py", mode=mode)

    with caplog.at_level(logging.INFO, logger="tools.federation.remote"):
        execute_tool(user=user, tool_name="py__shout", arguments={"message": "disk almost full"}, via=Via.CLI)

    records = [r for r in caplog.records if r.name == "tools.federation.remote.py"]
    assert [(r.levelno, r.getMessage()) for r in records] == [(logging.WARNING, "disk almost full")]
    assert records[0].remote_server == "py"


def test_a_remote_call_over_the_timeout_ends_as_timeout_and_the_pool_stays_usable(user):
    # One session (one server process): the next call waits for the session the timed-out
    # call gives back, rather than race it and start a second server process, whose start
    # alone can take the 1 s timeout on a busy machine (the test failed so now and then).
    add_stdio("py", timeout=1.0, max_connections=1)
    pid = execute_tool(user=user, tool_name="py__pid", arguments={}, via=Via.CLI).result["pid"]

    execution = execute_tool(user=user, tool_name="py__sleep", arguments={"seconds": 30}, via=Via.CLI)

    assert execution.status == Status.TIMEOUT
    after = execute_tool(user=user, tool_name="py__add", arguments={"a": 1, "b": 1}, via=Via.CLI)
    assert after.status == Status.SUCCESS, after.error
    # The same server process answers: the timeout cancelled the call, not the session.
    assert execute_tool(user=user, tool_name="py__pid", arguments={}, via=Via.CLI).result["pid"] == pid


@pytest.mark.parametrize("mode", ["stdio", "stdio-legacy"])
def test_a_cancelled_call_is_cancelled_at_the_remote(user, mode):
    # One session (one server process), so that the next calls ask the process that ran it.
    add_stdio("py", mode=mode, max_connections=1)
    cancel = threading.Event()
    set_once_started(cancel, "py__sleep")

    execution = execute_tool(
        user=user, tool_name="py__sleep", arguments={"seconds": 30}, via=Via.CLI, hooks=CallHooks(cancel_event=cancel)
    )

    assert execution.status == Status.CANCELLED
    after = execute_tool(user=user, tool_name="py__add", arguments={"a": 1, "b": 1}, via=Via.CLI)
    assert after.status == Status.SUCCESS, after.error
    # The remote's handler was cancelled (the SDK sent notifications/cancelled), not left running.
    assert wait_for(
        lambda: execute_tool(user=user, tool_name="py__cancellations", arguments={}, via=Via.CLI).result
        == {"cancelled": [30]},
        timeout=10,
    )


def test_concurrent_calls_never_open_more_sessions_than_the_pool_size(user):
    server = add_stdio("py", max_connections=2)
    results: list[ToolExecution] = []

    def call() -> None:
        results.append(execute_tool(user=user, tool_name="py__pid", arguments={"hold": 0.4}, via=Via.CLI))

    # Twice the pool size, and within the hub's per-user cap of calls (TOOL_POOL_PER_USER,
    # 5 on a 2-CPU machine), which would refuse the rest as busy.
    threads = [in_thread(call) for _ in range(4)]
    for thread in threads:
        thread.join(60)

    assert [e.status for e in results] == [Status.SUCCESS] * 4, [e.error for e in results]
    pids = {e.result["pid"] for e in results}
    assert len(pids) == 2  # one process per stdio session: reused, and bounded
    pool = federation().pools.existing(server.pk)
    assert pool.peak == 2


def test_a_stdio_server_killed_mid_call_gives_a_clear_error_and_a_new_process_serves_after_a_check(user):
    import os
    import signal

    from executions.policy import ToolUnavailable
    from tools.federation.services import remote_server_check

    server = add_stdio("py", max_connections=1)
    first_pid = execute_tool(user=user, tool_name="py__pid", arguments={}, via=Via.CLI).result["pid"]
    outcome: list[ToolExecution] = []
    call = in_thread(
        lambda: outcome.append(execute_tool(user=user, tool_name="py__sleep", arguments={"seconds": 30}, via=Via.CLI))
    )
    wait_for_remote_call("py__sleep")
    os.kill(first_pid, signal.SIGKILL)
    call.join(30)

    (execution,) = outcome
    assert execution.status == Status.ERROR
    assert "Remote server 'py' is unavailable" in execution.error
    assert federation().health.get("py").healthy is False
    with pytest.raises(ToolUnavailable):
        execute_tool(user=user, tool_name="py__pid", arguments={}, via=Via.CLI)

    assert remote_server_check(server=server).healthy is True
    again = execute_tool(user=user, tool_name="py__pid", arguments={}, via=Via.CLI)
    assert again.status == Status.SUCCESS, again.error
    assert again.result["pid"] != first_pid


def test_idle_sessions_are_closed_and_their_processes_end(user, settings):
    from tests.federation.conftest import process_alive

    settings.FEDERATION_IDLE_TIMEOUT = 0.3
    server = add_stdio("py")
    pid = execute_tool(user=user, tool_name="py__pid", arguments={}, via=Via.CLI).result["pid"]
    pool = federation().pools.existing(server.pk)

    assert wait_for(lambda: pool.size == 0)
    assert wait_for(lambda: not process_alive(pid))
    # The next call opens a fresh session.
    again = execute_tool(user=user, tool_name="py__pid", arguments={}, via=Via.CLI)
    assert again.status == Status.SUCCESS and again.result["pid"] != pid
