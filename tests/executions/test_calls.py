"""The adapter async doors share (executions.calls): announce, ordered events, cancel."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any

import pytest
from channels.db import database_sync_to_async

from accounts.models import User
from executions.calls import DoorCall, EventPump
from executions.models import ToolExecution
from executions.policy import ToolNotFound
from tests.crossproc import SharedCounter
from tools.base import Tool, ToolContext
from tools.registry import registry

pytestmark = pytest.mark.django_db(transaction=True)
Status = ToolExecution.Status
STEPS = 12


class Steps(Tool):
    name = "test_calls_steps"
    description = "Reports progress and logs, interleaved, then returns."
    raw_input_schema = {"type": "object"}

    def run(self, arguments: dict, ctx: ToolContext) -> dict:
        for step in range(1, STEPS + 1):
            ctx.report_progress(step, STEPS, f"step {step}")
            ctx.log("info", f"log {step}")
        return {"steps": STEPS}


class Spin(Tool):
    """Loops without looking at its context: only the pool killing its process stops it."""

    name = "test_calls_spin"
    description = "Loops for 8 s."
    raw_input_schema = {"type": "object"}
    timeout = 20.0
    steps = SharedCounter("test_calls_spin_steps")

    def run(self, arguments: dict, ctx: ToolContext) -> dict:
        for _ in range(400):
            type(self).steps.add()
            time.sleep(0.02)
        return {}


@pytest.fixture(autouse=True)
def test_tools():
    for cls in (Steps, Spin):
        registry.register(cls, replace=True)
    yield
    for cls in (Steps, Spin):
        registry.unregister(cls.name)


async def test_it_delivers_progress_and_logs_in_the_order_the_tool_reported_them(user):
    seen: list[tuple[str, Any]] = []

    async def on_event(event: dict[str, Any]) -> None:
        await asyncio.sleep(0)  # a slow door must not reorder what comes after
        seen.append((event["type"], event.get("progress", event.get("message"))))

    execution = await DoorCall(on_event=on_event).run(
        user=user, tool_name="test_calls_steps", arguments={}, via="mcp", session=None, scopes=None
    )
    assert execution.status == Status.SUCCESS and execution.result == {"steps": STEPS}
    expected = []
    for step in range(1, STEPS + 1):
        expected += [("execution.progress", step), ("execution.log", f"log {step}")]
    assert seen == expected  # all of them, in order, before run returned


async def test_it_announces_the_execution_before_the_tool_reports_anything(user):
    order: list[str] = []

    async def on_accepted(execution: ToolExecution) -> None:
        order.append(f"accepted {execution.id} {execution.status}")

    async def on_event(event: dict[str, Any]) -> None:
        order.append(event["type"])

    call = DoorCall(on_event=on_event, on_accepted=on_accepted)
    execution = await call.run(
        user=user, tool_name="test_calls_steps", arguments={}, via="ws", session=None, scopes=None
    )
    assert order[0] == f"accepted {execution.id} {Status.RUNNING}"
    assert order.count(order[0]) == 1 and len(order) == 1 + 2 * STEPS
    assert call.execution is not None and call.execution.pk == execution.pk


async def test_a_door_that_cannot_announce_leaves_the_row_cancelled(user):
    async def on_accepted(execution: ToolExecution) -> None:
        raise ConnectionError("the socket closed as the call started")

    with pytest.raises(ConnectionError):
        await DoorCall(on_accepted=on_accepted).run(
            user=user, tool_name="test_calls_steps", arguments={}, via="ws", session=None, scopes=None
        )
    row = await database_sync_to_async(ToolExecution.objects.get)()
    assert row.status == Status.CANCELLED and "went away" in row.error


async def test_it_stops_an_inline_call_when_cancelled(user):
    call = DoorCall(on_accepted=lambda execution: asyncio.sleep(0))
    running = asyncio.ensure_future(
        call.run(user=user, tool_name="test_calls_spin", arguments={}, via="mcp", session=None, scopes=None)
    )
    # The counter is filled by the tool's process: no event of this loop can say it moved.
    while Spin.steps.value == 0:  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    call.cancel()
    execution = await asyncio.wait_for(running, timeout=10)
    assert execution.status == Status.CANCELLED
    row = await database_sync_to_async(ToolExecution.objects.get)(pk=execution.pk)
    assert row.status == Status.CANCELLED and row.finished is not None


async def test_abandoning_ends_a_background_execution_that_waits_for_a_worker(user):
    row = await database_sync_to_async(ToolExecution.objects.create)(
        tool_name="test_calls_spin", user=user, via="mcp", arguments={}, status=Status.PENDING, mode="background"
    )
    call = DoorCall()
    call.execution = row  # as announced
    await call.abandon(user)
    assert call.cancel_event.is_set()
    row = await database_sync_to_async(ToolExecution.objects.get)(pk=row.pk)
    assert row.status == Status.CANCELLED


async def test_a_refused_call_is_never_announced(user):
    announced: list[ToolExecution] = []

    async def on_accepted(execution: ToolExecution) -> None:
        announced.append(execution)

    with pytest.raises(ToolNotFound):
        await DoorCall(on_accepted=on_accepted).run(
            user=user, tool_name="no_such_tool", arguments={}, via="ws", session=None, scopes=None
        )
    assert announced == []


async def test_the_pump_keeps_the_order_of_events_put_from_threads_and_survives_a_failing_handler():
    delivered: list[int] = []

    async def handler(event: dict[str, Any]) -> None:
        if event["n"] == 3:
            raise RuntimeError("this one is lost, not the rest")
        delivered.append(event["n"])

    pump = EventPump(handler)
    thread = threading.Thread(target=lambda: [pump.put_threadsafe({"n": n}) for n in range(50)])
    thread.start()
    await asyncio.to_thread(thread.join)
    await pump.close()
    assert delivered == [n for n in range(50) if n != 3]


async def test_it_hops_to_the_loop_only_when_there_is_something_to_announce(user, monkeypatch):
    from executions import calls

    hops: list[str] = []
    real_on_loop = calls.on_loop

    def counting_on_loop(loop, coro, timeout=None):
        hops.append("announce")
        return real_on_loop(loop, coro, timeout)

    monkeypatch.setattr(calls, "on_loop", counting_on_loop)
    arguments = {"user": user, "tool_name": "test_calls_steps", "arguments": {}, "via": "mcp", "session": None,
                 "scopes": None}
    # An inline call of a door that waits for workers only: nothing to say before it runs.
    assert (await DoorCall(wait_for_worker=True).run(**arguments)).status == Status.SUCCESS
    assert hops == []

    async def accepted(execution: ToolExecution) -> None:
        pass

    assert (await DoorCall(on_accepted=accepted).run(**arguments)).status == Status.SUCCESS
    assert hops == ["announce"]


async def test_more_calls_than_the_loops_default_threads_are_in_flight_at_once():
    """The doors' calls have threads of their own (executions.calls.call_threads): on the
    event loop's default executor (os.cpu_count() + 4 threads) that many slow calls held
    every other call of every user until one ended. Here each call's thread waits in its
    announcement until all of them are in: with fewer threads than calls, none would be."""
    calls = (os.cpu_count() or 1) + 5
    users = [
        await database_sync_to_async(User.objects.create)(username=f"caller{i}")
        for i in range(calls)
    ]
    announced = 0
    all_in = asyncio.Event()

    async def on_accepted(execution: ToolExecution) -> None:
        nonlocal announced
        announced += 1
        if announced == calls:
            all_in.set()
        await asyncio.wait_for(all_in.wait(), timeout=15)  # the call's thread waits meanwhile

    executions = await asyncio.gather(*(
        DoorCall(on_accepted=on_accepted).run(
            user=caller, tool_name="test_calls_steps", arguments={}, via="mcp", session=None, scopes=None
        )
        for caller in users
    ))
    assert announced == calls
    assert [e.status for e in executions] == [Status.SUCCESS] * calls
