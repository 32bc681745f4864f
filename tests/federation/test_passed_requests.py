"""A remote server's sampling, elicitation and roots requests during a call reach the caller's client."""

from __future__ import annotations

import asyncio
import contextlib
import json
from concurrent.futures import ThreadPoolExecutor

import mcp_types as types
import pytest
from channels.db import database_sync_to_async
from mcp import Client

from executions import services
from executions.models import Session, ToolExecution, Via
from executions.services import execute_tool
from mcp_server.server import Caller, HubServer
from tests.federation.conftest import add_stdio
from tools.federation.hub import federation
from tools.federation.models import RemoteServer

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def hub(user):
    session = services.session_start(user=user, kind=Session.Kind.MCP, client_info={})
    server = HubServer(stdio_caller=Caller(user, session))
    yield server
    server.close()


# stdio: the remote speaks 2026-07-28 and asks with an input-required result;
# stdio-legacy: a 2025-11-25 remote sends elicitation/create during the call.
# The hub's own client: legacy gets a server request during the call; auto (2026-07-28)
# gets an input-required result from the hub, which calls the remote again with the answer.
@pytest.mark.parametrize("hub_mode", ["legacy", "auto"])
@pytest.mark.parametrize("remote_mode", ["stdio", "stdio-legacy"])
async def test_a_remote_tool_that_elicits_reaches_the_hubs_mcp_client_and_gets_its_answer(hub, remote_mode, hub_mode):
    await database_sync_to_async(add_stdio)("py", mode=remote_mode)
    asked: list[str] = []

    async def on_elicit(context: object, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    async with Client(hub.server, mode=hub_mode, elicitation_callback=on_elicit) as client:
        result = await client.call_tool("py__ask", {"kind": "elicitation"})

    assert asked == ["Your name?"]
    assert result.is_error is False, result.content
    answer = json.loads(result.content[0].text)["answer"]
    assert "Ada" in answer and "accept" in answer
    # One execution, and the remote server stays healthy (the call it gave up was no failure).
    execution = await database_sync_to_async(ToolExecution.objects.get)()
    assert execution.status == ToolExecution.Status.SUCCESS
    assert (await database_sync_to_async(RemoteServer.objects.get)(name="py")).healthy is True


async def test_open_remote_questions_do_not_wait_for_the_federation_loops_default_threads(hub):
    """Each open question of a remote tool holds a thread until its answer comes (a person
    answers it). On the federation loop's default executor (``os.cpu_count() + 4`` threads)
    that many open questions held every later one, and the loop's name lookups too. Here
    that executor has one thread, as if the others were all taken: two questions must
    still be open at once."""
    await database_sync_to_async(add_stdio)("py", mode="stdio-legacy")
    loop = federation().loop.loop()
    one_thread = ThreadPoolExecutor(max_workers=1)
    loop.call_soon_threadsafe(loop.set_default_executor, one_thread)
    calls, asked, open_at_most = 2, 0, 0
    all_asked = asyncio.Event()

    async def on_elicit(context: object, params: types.ElicitRequestParams) -> types.ElicitResult:
        # Each question is answered once both are open, or after 10 s (then the test fails).
        nonlocal asked, open_at_most
        asked += 1
        open_at_most = max(open_at_most, asked)
        if asked == calls:
            all_asked.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_asked.wait(), timeout=10)
        asked -= 1
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    try:
        async with Client(hub.server, mode="legacy", elicitation_callback=on_elicit) as client:
            asking = (client.call_tool("py__ask", {"kind": "elicitation"}) for _ in range(calls))
            results = await asyncio.gather(*asking)
    finally:
        loop.call_soon_threadsafe(loop.set_default_executor, ThreadPoolExecutor())
        one_thread.shutdown(wait=False)

    assert open_at_most == calls, f"only {open_at_most} of {calls} questions were open at once"
    assert [r.is_error for r in results] == [False] * calls


async def test_a_remote_sampling_request_reaches_the_hubs_mcp_client(hub):
    await database_sync_to_async(add_stdio)("py", mode="stdio-legacy")

    async def on_sample(context: object, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="forty-two"), model="test-model"
        )

    async with Client(hub.server, mode="legacy", sampling_callback=on_sample) as client:
        result = await client.call_tool("py__ask", {"kind": "sampling"})

    assert result.is_error is False, result.content
    assert "forty-two" in json.loads(result.content[0].text)["answer"]


def test_a_door_without_a_client_refuses_the_remotes_request_clearly(user):
    add_stdio("py", mode="stdio-legacy")

    execution = execute_tool(user=user, tool_name="py__ask", arguments={"kind": "elicitation"}, via=Via.CLI)

    # The remote got the hub's refusal as a JSON-RPC error in the middle of its call.
    assert execution.status == ToolExecution.Status.SUCCESS, execution.error
    assert "cannot send elicitation/create to its client" in execution.result["error"]
