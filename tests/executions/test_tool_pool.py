"""Tool code runs in a supervised pool of tool processes (executions/toolpool.py).

Real limits (a tool is killed, not asked, at its timeout; memory and CPU caps), the
pool replacing what it killed, and backpressure: past the pool's places a call is
refused at once on every door, while the rest of the hub keeps answering.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.test import AsyncClient
from mcp import Client
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import token_create
from executions import policy, services, toolpool
from executions.models import Session, ToolExecution
from mcp_server.server import Caller, HubServer
from mcpsite.asgi import application
from tests.crossproc import SharedCounter, SharedFlag
from tools.base import Tool, ToolContext
from tools.registry import registry

pytestmark = pytest.mark.django_db(transaction=True)
Status = ToolExecution.Status
TIMEOUT = 20


class Spin(Tool):
    """CPU-bound until the test releases it (never checks for cancellation)."""

    name = "test_spin"
    description = "Burns CPU until released."
    raw_input_schema = {"type": "object"}
    release = SharedFlag("test_spin_release")
    started = SharedCounter("test_spin_started")

    def run(self, arguments: dict, ctx: ToolContext) -> dict:
        type(self).started.add()
        spins = 0
        deadline = time.monotonic() + 60
        while not self.release.is_set() and time.monotonic() < deadline:
            for _ in range(20_000):
                spins += 1
        return {"spins": spins}


class Forever(Tool):
    """Loops forever without looking at its context; writes its pid first."""

    name = "test_forever"
    description = "Never returns."
    raw_input_schema = {"type": "object"}
    timeout = 1.0
    steps = SharedCounter("test_forever_steps")

    def run(self, arguments: dict, ctx: ToolContext) -> dict:
        while True:
            type(self).steps.add()
            time.sleep(0.01)


class Hog(Tool):
    """Allocates without bound."""

    name = "test_hog"
    description = "Eats memory."
    raw_input_schema = {"type": "object"}

    def run(self, arguments: dict, ctx: ToolContext) -> dict:
        chunks = []
        while True:
            chunks.append(bytearray(64 * 1024 * 1024))


class Pid(Tool):
    name = "test_pid"
    description = "Says which process runs it."
    raw_input_schema = {"type": "object"}

    def run(self, arguments: dict, ctx: ToolContext) -> dict:
        return {"pid": os.getpid()}


class WhoAmI(Tool):
    name = "test_whoami"
    description = "Says who the tool process was told called it."
    raw_input_schema = {"type": "object"}

    def run(self, arguments: dict, ctx: ToolContext) -> dict:
        user = ctx.user
        assert user is not None
        return {
            "pid": os.getpid(), "pk": user.pk, "username": user.username, "email": user.email, "role": user.role,
            "is_staff": user.is_staff, "password": user.password, "saved": not user._state.adding,
        }


class ReadsSetting(Tool):
    name = "test_reads_setting"
    description = "Says what a tool setting reads in the tool process."
    raw_input_schema = {"type": "object"}

    def run(self, arguments: dict, ctx: ToolContext) -> dict:
        from django.conf import settings

        return {"pid": os.getpid(), "value": settings.FETCH_URL_MAX_BYTES}


TEST_TOOLS = [Spin, Forever, Hog, Pid, WhoAmI, ReadsSetting]


@pytest.fixture(autouse=True)
def test_tools():
    Spin.release.clear()
    Spin.started.reset()
    Forever.steps.reset()
    for cls in TEST_TOOLS:
        registry.register(cls, replace=True)
    yield
    Spin.release.set()
    for cls in TEST_TOOLS:
        registry.unregister(cls.name)


@pytest.fixture
def small_pool(settings):
    """Two processes, one place in the queue, two places per user."""
    settings.TOOL_POOL_SIZE, settings.TOOL_POOL_QUEUE, settings.TOOL_POOL_PER_USER = 2, 1, 2
    toolpool.reset_pool()
    pool = toolpool.get_pool()
    pool.prestart()
    yield pool
    Spin.release.set()
    toolpool.reset_pool()


def wait_for(predicate: Any, what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed child of the fork server may linger as a zombie until it is reaped.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ", 1)[1][0] != "Z"


def full_strength(pool: toolpool.ToolPool) -> bool:
    stats = pool.stats()
    return stats["started"] == stats["idle"] == pool.size and stats["admitted"] == 0


def run_pid(user: User) -> int:
    return services.execute_tool(user=user, tool_name="test_pid", arguments={}, via="api").result["pid"]


def test_a_tool_process_is_told_who_called_but_not_their_password_hash(admin_user):
    result = services.execute_tool(user=admin_user, tool_name="test_whoami", arguments={}, via="api").result
    assert result["pid"] != os.getpid()
    assert result == {
        "pid": result["pid"], "pk": admin_user.pk, "username": "root", "email": "root@example.com",
        "role": User.Role.ADMIN, "is_staff": True, "password": "", "saved": True,
    }
    assert admin_user.password.startswith("pbkdf2_")  # there was a hash to leave behind


def test_a_setting_changed_at_run_time_reaches_the_tool_process_on_the_next_call(user, settings):
    def read() -> dict:
        return services.execute_tool(user=user, tool_name="test_reads_setting", arguments={}, via="api").result

    settings.FETCH_URL_MAX_BYTES = 1234
    first = read()
    assert first["pid"] != os.getpid() and first["value"] == 1234
    settings.FETCH_URL_MAX_BYTES = 5678  # the serving process kept the values it sent: now stale
    assert read()["value"] == 5678


# --- real limits ---------------------------------------------------------------------------------


def test_a_tool_that_never_checks_for_cancellation_is_killed_at_its_timeout_and_replaced(user):
    pool = toolpool.get_pool()
    before = set(pool.idle_pids())
    execution = services.execute_tool(user=user, tool_name="test_forever", arguments={}, via="api")
    assert execution.status == Status.TIMEOUT and "1 s" in execution.error
    # Its code stopped for real: the loop counts no more, and its process is gone.
    assert Forever.steps.value > 0 and Forever.steps.settled()
    killed = before - set(pool.idle_pids())
    assert len(killed) == 1 and not alive(killed.pop())
    assert full_strength(pool)


def test_a_tool_that_allocates_without_bound_ends_as_error_at_the_memory_cap_and_is_replaced(user, settings):
    pool = toolpool.get_pool()
    execution = services.execute_tool(user=user, tool_name="test_hog", arguments={}, via="api")
    assert execution.status == Status.ERROR
    assert f"{settings.TOOL_PROCESS_MEMORY_MB} MB of memory" in execution.error
    assert full_strength(pool)
    assert run_pid(user) in pool.idle_pids()  # the replacement serves the next call


def test_a_tool_past_its_cpu_time_cap_ends_as_error_and_is_replaced(user, settings):
    settings.TOOL_PROCESS_CPU_SECONDS = 1
    pool = toolpool.get_pool()
    execution = services.execute_tool(user=user, tool_name="test_spin", arguments={}, via="api")
    assert execution.status == Status.ERROR
    assert "more than 1 s of CPU time" in execution.error
    assert full_strength(pool)


def test_cancelling_a_running_call_kills_its_process(user):
    pool = toolpool.get_pool()
    before = set(pool.idle_pids())

    def cancel_when_started(execution: ToolExecution) -> None:
        def cancel() -> None:
            try:
                wait_for(lambda: Spin.started.value == 1, "the tool to start")
                services.execution_cancel(execution=ToolExecution.objects.get(pk=execution.pk), user=user)
            finally:
                connection.close()

        threading.Thread(target=cancel).start()

    execution = services.execute_tool(
        user=user, tool_name="test_spin", arguments={}, via="api", hooks=services.CallHooks(
            on_created=cancel_when_started
        )
    )
    assert execution.status == Status.CANCELLED
    killed = before - set(pool.idle_pids())
    assert len(killed) == 1 and not alive(killed.pop())
    assert full_strength(pool)


def test_a_process_is_recycled_after_its_maximum_number_of_calls(user, settings):
    settings.TOOL_PROCESS_MAX_CALLS = 2
    toolpool.reset_pool()
    try:
        toolpool.get_pool()
        pids = [run_pid(user) for _ in range(5)]
        # The pool lends the process that came back last: two calls each, then a new one.
        assert pids[0] == pids[1] and pids[2] == pids[3] and len({pids[0], pids[2], pids[4]}) == 3
        assert not alive(pids[0])
    finally:
        toolpool.reset_pool()


# --- backpressure: a flood is refused on every door, the rest of the hub keeps answering ----------


def rest_call(token: str, tool: str = "test_spin") -> Any:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.post(f"/api/v1/tools/{tool}/execute/", {"arguments": {}}, format="json")


async def mcp_call(user: User, tool: str = "test_spin") -> Any:
    session = await database_sync_to_async(services.session_start)(user=user, kind=Session.Kind.MCP)
    server = HubServer(stdio_caller=Caller(user, session))
    try:
        async with Client(server.server, mode="legacy") as client:
            return await client.call_tool(tool, {})
    finally:
        server.close()


async def test_a_flood_past_the_pool_and_queue_is_refused_at_once_on_every_door_while_the_hub_answers(
    small_pool, user
):
    make = database_sync_to_async(User.objects.create_user)
    bob, carol = await make(username="bob"), await make(username="carol")
    tokens = {
        who: (await database_sync_to_async(token_create)(user=u, name="flood"))[1]
        for who, u in (("alice", user), ("bob", bob), ("carol", carol))
    }
    in_thread = database_sync_to_async(rest_call, thread_sensitive=False)

    # Alice takes both processes, Bob the one place in the queue.
    running = [asyncio.ensure_future(in_thread(tokens["alice"])) for _ in range(2)]
    await asyncio.to_thread(wait_for, lambda: Spin.started.value == 2, "two spinning calls")
    queued = asyncio.ensure_future(mcp_call(bob))
    await asyncio.to_thread(wait_for, lambda: small_pool.stats()["waiting"] == 1, "a queued call")

    # Every door refuses more at once, with a retry hint.
    refused = await in_thread(tokens["carol"])
    assert refused.status_code == 503 and refused.json()["code"] == "busy"
    assert int(refused.headers["Retry-After"]) >= 1
    own_share = await in_thread(tokens["alice"], "test_pid")
    assert own_share.status_code == 503 and "as one user may" in own_share.json()["message"]

    result = await mcp_call(carol)
    assert result.is_error is True and "busy" in result.content[0].text

    communicator = WebsocketCommunicator(application, "/ws/addin/", headers=[(b"origin", b"http://127.0.0.1:8000")])
    assert (await communicator.connect(timeout=TIMEOUT))[0]  # new handshakes still answered
    await communicator.send_json_to({"type": "auth", "token": tokens["carol"]})
    assert (await communicator.receive_json_from(timeout=TIMEOUT))["type"] == "authenticated"
    await communicator.send_json_to({"type": "tool_execute", "id": 1, "tool": "test_spin", "arguments": {}})
    frame = await communicator.receive_json_from(timeout=TIMEOUT)
    assert (frame["type"], frame["id"], frame["code"]) == ("error", 1, "busy")
    await communicator.disconnect()

    # The rest of the hub answers while every tool process is busy.
    web = AsyncClient()
    assert (await web.get("/healthz")).status_code == 200
    assert (await web.get("/readyz")).status_code in (200, 503)
    metrics = (await web.get("/metrics")).content.decode()
    assert 'mcpsite_tool_calls_rejected_total{reason="busy",tool="test_spin"}' in metrics
    assert (await web.get("/admin/login/")).status_code == 200
    # Refusals were not recorded as executions; only the admitted calls were.
    assert await database_sync_to_async(ToolExecution.objects.count)() == 3

    Spin.release.set()
    answers = await asyncio.gather(*running)
    assert [a.status_code for a in answers] == [200, 200]
    assert (await queued).is_error is False
    statuses = await database_sync_to_async(lambda: sorted(ToolExecution.objects.values_list("status", flat=True)))()
    assert statuses == [Status.SUCCESS] * 3  # none left running
    await asyncio.to_thread(wait_for, lambda: full_strength(small_pool), "the pool back to full strength")


def call_in_thread(**kwargs: Any) -> threading.Thread:
    def call() -> None:
        try:
            services.execute_tool(**kwargs)
        finally:
            connection.close()

    thread = threading.Thread(target=call)
    thread.start()
    return thread


def test_one_user_cannot_take_every_place(small_pool, user, admin_user):
    """Alice's share is two places: her third call is refused, another user still gets in."""
    threads = [call_in_thread(user=user, tool_name="test_spin", arguments={}, via="api") for _ in range(2)]
    wait_for(lambda: Spin.started.value == 2, "alice's two calls")
    with pytest.raises(policy.ToolBusy) as info:
        services.execute_tool(user=user, tool_name="test_spin", arguments={}, via="api")
    assert info.value.code == "busy" and "as one user may" in info.value.message
    threads.append(call_in_thread(user=admin_user, tool_name="test_pid", arguments={}, via="api"))
    wait_for(lambda: small_pool.stats()["waiting"] == 1, "the other user's call in the queue")
    Spin.release.set()
    for thread in threads:
        thread.join(TIMEOUT)
    assert sorted(ToolExecution.objects.values_list("tool_name", "status")) == [
        ("test_pid", "success"), ("test_spin", "success"), ("test_spin", "success")]
    wait_for(lambda: full_strength(small_pool), "the pool back to full strength")
