"""Questions to the client (MCP 2026-07-28 input requests) and MCP tasks, against real hubs.

Each hub is daphne on a SQLite file (``conftest.start_hub``) with the conformance
fixtures; a second daphne on the same database stands for a second web process behind a
load balancer. The client is the official Python SDK (``mcp.Client`` in ``auto`` mode);
the tasks extension has no Python client in the SDK, so a small ``ClientExtension``
here resolves a task by polling ``tasks/get`` (and answering with ``tasks/update``) on
whichever web process it is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any, Literal

import httpx2 as httpx
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim

from tests.mcp_server.conftest import CONFORMANCE_FIXTURES, Hub, another_web_process, start_hub, stop_hub

pytestmark = pytest.mark.slow

TASKS = "io.modelcontextprotocol/tasks"
MODERN = "2026-07-28"


@pytest.fixture(scope="module")
def hubs(tmp_path_factory) -> Iterator[tuple[Hub, Hub]]:
    """Two web processes of one hub (anonymous callers allowed, on loopback)."""
    first = start_hub(
        tmp_path_factory.mktemp("tasks-hub"), MCP_EXTRA_PROVIDERS=CONFORMANCE_FIXTURES, MCP_ALLOW_ANONYMOUS="1"
    )
    second = another_web_process(first)
    try:
        yield first, second
    finally:
        stop_hub(second)
        stop_hub(first)


def rpc(
    hub: Hub, method: str, params: dict[str, Any], *, tasks: bool = True, name: str | None = None
) -> dict[str, Any]:
    """One 2026-07-28 request (its _meta envelope and routing headers) to one web process."""
    capabilities: dict[str, Any] = {"elicitation": {}, **({"extensions": {TASKS: {}}} if tasks else {})}
    body = {
        "jsonrpc": "2.0", "id": str(uuid.uuid4()), "method": method,
        "params": {**params, "_meta": {
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientInfo": {"name": "mcpsite-tasks-test", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": capabilities,
        }},
    }
    headers = {
        "Accept": "application/json, text/event-stream", "MCP-Protocol-Version": MODERN, "Mcp-Method": method,
    }
    name = name if name is not None else params.get("name", params.get("taskId"))
    if name is not None:
        headers["Mcp-Name"] = name
    response = httpx.post(hub.url, json=body, headers=headers, timeout=30)
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        messages = [
            json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:") and line[5:].strip()
        ]
        return next(m for m in messages if m.get("id") == body["id"])
    return response.json()


def task_get(hub: Hub, task_id: str) -> dict[str, Any]:
    answer = rpc(hub, "tasks/get", {"taskId": task_id}, name=task_id)
    assert "result" in answer, answer
    return answer["result"]


def wait_for(hub: Hub, task_id: str, *statuses: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        task = task_get(hub, task_id)
        if task["status"] in statuses or time.monotonic() > deadline:
            return task
        time.sleep(0.2)


class TaskCreated(types.Result):
    result_type: Literal["task"] = "task"
    task_id: str
    status: str


class PollingTasks(ClientExtension):
    """The tasks extension for the Python SDK's Client: a task result is resolved by
    polling another web process, answering its questions with ``answer``."""

    identifier = TASKS

    def __init__(self, poll: Hub, answer: Any) -> None:
        self.poll = poll
        self.answer = answer
        self.seen: list[str] = []

    def claims(self) -> list[ResultClaim[Any]]:
        return [ResultClaim(result_type="task", model=TaskCreated, resolve=self._resolve)]

    async def _resolve(self, created: TaskCreated, ctx: ClaimContext) -> types.CallToolResult:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            task = task_get(self.poll, created.task_id)
            self.seen.append(task["status"])
            if task["status"] == "input_required":
                answers = {key: self.answer(request) for key, request in task["inputRequests"].items()}
                ack = rpc(
                    self.poll,
                    "tasks/update",
                    {"taskId": created.task_id, "inputResponses": answers},
                    name=created.task_id,
                )
                assert ack.get("result", {}).get("resultType") == "complete", ack
            elif task["status"] in ("completed", "failed", "cancelled"):
                assert task["status"] == "completed", task
                return types.CallToolResult.model_validate(task["result"])
            await asyncio.sleep(0.2)
        raise AssertionError(f"task {created.task_id} did not end: {self.seen}")


def executions_of(hub: Hub, tool: str) -> list[dict[str, Any]]:
    return hub.api(f"/api/v1/executions/?tool={tool}&limit=1000")["results"]


async def test_a_python_sdk_client_in_auto_mode_answers_a_tools_question_and_gets_its_result(hubs):
    first, _ = hubs
    asked: list[str] = []

    async def elicit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        if params.message.startswith("Step 1"):
            return types.ElicitResult(action="accept", content={"name": "Ada"})
        if asked.count(params.message) == 1:
            # A first answer that does not fit the requested schema (no "color"): asked again.
            return types.ElicitResult(action="accept", content={"name": "Ada"})
        return types.ElicitResult(action="accept", content={"color": "green"})

    async with Client(first.url, mode="auto", elicitation_callback=elicit) as client:
        result = await client.call_tool("test_input_required_result_multi_round", {})

    assert result.is_error is not True, result
    assert result.content[0].text == "Ada likes green"
    assert asked == [
        "Step 1: What is your name?", "Step 2: What is your favorite color?", "Step 2: What is your favorite color?",
    ]
    # Three rounds of questions, one call: one execution, resumed on the same row.
    [execution] = executions_of(first, "test_input_required_result_multi_round")
    assert execution["status"] == "success" and execution["via"] == "mcp"


async def test_a_client_that_did_not_declare_a_capability_gets_32021_with_http_400(hubs):
    first, _ = hubs
    body = {
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "test_missing_capability", "arguments": {}, "_meta": {
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {},
        }},
    }
    response = httpx.post(first.url, json=body, headers={
        "Accept": "application/json, text/event-stream", "MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call",
        "Mcp-Name": "test_missing_capability",
    })

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == -32021 and error["data"]["requiredCapabilities"] == {"sampling": {}}


async def test_tampered_request_state_is_refused(hubs):
    first, _ = hubs
    round1 = rpc(first, "tools/call", {"name": "test_input_required_result_request_state", "arguments": {}})["result"]
    state = round1["requestState"]
    tampered = state[:-4] + ("AAAA" if not state.endswith("AAAA") else "BBBB")
    answer = {"confirm": {"action": "accept", "content": {"ok": True}}}

    refused = rpc(
        first,
        "tools/call",
        {
            "name": "test_input_required_result_request_state",
            "arguments": {},
            "inputResponses": answer,
            "requestState": tampered,
        },
    )
    # The same state for other arguments is refused too: it is bound to the call it was minted for.
    rebound = rpc(
        first,
        "tools/call",
        {
            "name": "test_input_required_result_request_state",
            "arguments": {"x": 1},
            "inputResponses": answer,
            "requestState": state,
        },
    )
    accepted = rpc(
        first,
        "tools/call",
        {
            "name": "test_input_required_result_request_state",
            "arguments": {},
            "inputResponses": answer,
            "requestState": state,
        },
    )

    assert round1["resultType"] == "input_required" and "confirm" in round1["inputRequests"]
    assert refused["error"]["code"] == -32602, refused
    assert rebound["error"]["code"] == -32602, rebound
    assert accepted["result"]["content"][0]["text"].startswith("state-ok"), accepted


async def test_a_task_is_created_through_one_web_process_and_answered_and_polled_through_another(hubs):
    first, second = hubs
    tasks = PollingTasks(second, answer=lambda request: {"action": "accept", "content": {"confirm": True}})

    async with Client(first.url, mode="auto", extensions=[tasks]) as client:
        result = await client.call_tool("confirm_delete", {"filename": "notes.txt"})

    assert result.content[0].text == "Deleted notes.txt"
    assert "input_required" in tasks.seen and tasks.seen[-1] == "completed"
    # The REST API sees the same execution the task was.
    [execution] = [e for e in executions_of(second, "confirm_delete") if e["arguments"] == {"filename": "notes.txt"}]
    assert execution["status"] == "success" and execution["via"] == "mcp"
    assert execution["result"] == {"content": [{"type": "text", "text": "Deleted notes.txt"}]}


async def test_a_waiting_task_is_answered_after_the_process_that_created_it_restarted(hubs, tmp_path):
    first, second = hubs
    # A third process that creates the task and then stops, as a web process that is redeployed.
    third = another_web_process(first, name="third")
    try:
        created = rpc(third, "tools/call", {"name": "confirm_delete", "arguments": {"filename": "old.txt"}})["result"]
        task_id = created["taskId"]
        waiting = wait_for(second, task_id, "input_required")
    finally:
        stop_hub(third)
    [key] = waiting["inputRequests"]

    ack = rpc(second, "tasks/update", {"taskId": task_id, "inputResponses": {key: {"action": "decline"}}}, name=task_id)
    done = wait_for(second, task_id, "completed", "failed", "cancelled")

    assert created["resultType"] == "task" and created["status"] == "working"
    assert waiting["status"] == "input_required" and waiting["inputRequests"][key]["method"] == "elicitation/create"
    assert ack["result"] == {"resultType": "complete"} or ack["result"].get("resultType") == "complete"
    assert done["status"] == "completed" and done["result"]["content"][0]["text"] == "Kept old.txt"


async def test_a_task_is_cancelled_through_another_web_process(hubs):
    first, second = hubs
    created = rpc(first, "tools/call", {"name": "slow_compute", "arguments": {"seconds": 60, "label": "cancel-me"}})[
        "result"
    ]
    task_id = created["taskId"]
    wait_for(second, task_id, "working")

    ack = rpc(second, "tasks/cancel", {"taskId": task_id}, name=task_id)
    cancelled = wait_for(first, task_id, "cancelled")
    again = rpc(first, "tasks/cancel", {"taskId": task_id}, name=task_id)

    assert ack["result"].get("resultType") == "complete"
    assert cancelled["status"] == "cancelled" and "result" not in cancelled
    assert again["result"].get("resultType") == "complete"  # idempotent on an ended task
    [execution] = [e for e in executions_of(first, "slow_compute") if e["arguments"].get("label") == "cancel-me"]
    assert execution["status"] == "cancelled"


async def test_task_methods_need_the_extension_and_a_known_task(hubs):
    first, _ = hubs
    undeclared = rpc(first, "tasks/get", {"taskId": "whatever"}, tasks=False, name="whatever")
    unknown = rpc(first, "tasks/get", {"taskId": str(uuid.uuid4())})
    required = rpc(first, "tools/call", {"name": "failing_job", "arguments": {}}, tasks=False)

    assert undeclared["error"]["code"] == -32021
    assert unknown["error"]["code"] == -32602
    assert required["error"]["code"] == -32021
    assert required["error"]["data"]["requiredCapabilities"] == {"extensions": {TASKS: {}}}


def execution_labelled(hub: Hub, label: str, *statuses: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in executions_of(hub, "slow_compute") if e["arguments"].get("label") == label]
        if found and (found[0]["status"] in statuses or time.monotonic() > deadline):
            return found[0]
        time.sleep(0.2)


async def test_closing_a_2026_response_stream_cancels_the_call(hubs):
    first, _ = hubs
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "slow_compute", "arguments": {"seconds": 30, "label": "closed-2026"},
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {},  # no tasks: the call runs while the client waits
        },
    }}
    headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": MODERN,
               "Mcp-Method": "tools/call", "Mcp-Name": "slow_compute"}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(first.url, json=body, headers=headers, timeout=2)

    # 2026-07-28 has no other way to cancel a request: closing its stream is the cancellation.
    assert execution_labelled(first, "closed-2026", "cancelled")["status"] == "cancelled"


def open_2025_session(hub: Hub) -> dict[str, str]:
    """The headers of a new 2025-11-25 session of ``hub`` (after its handshake)."""
    base = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    init = httpx.post(hub.url, headers=base, json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
    session = {**base, "mcp-session-id": init.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
    httpx.post(hub.url, headers=session, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
    return session


def call_on_stream(hub: Hub, session: dict[str, str], call: dict[str, Any]) -> tuple[str, list[str]]:
    """POST ``call`` on ``session`` and read its SSE stream to the end: (its priming event's id, its lines)."""
    with httpx.Client(timeout=30) as client, client.stream("POST", hub.url, headers=session, json=call) as stream:
        lines = list(stream.iter_lines())
    return next(line for line in lines if line.startswith("id:")).removeprefix("id:").strip(), lines


def resumed_stream_lines(hub: Hub, session: dict[str, str], last_event_id: str) -> list[str]:
    """What a GET with ``Last-Event-ID`` gets on ``session``, read for up to two seconds."""
    lines: list[str] = []
    headers = {**session, "Accept": "text/event-stream", "last-event-id": last_event_id}
    with contextlib.suppress(httpx.ReadTimeout), httpx.Client(timeout=2) as client, \
            client.stream("GET", hub.url, headers=headers) as stream:
        lines.extend(stream.iter_lines())
    return lines


async def test_a_dropped_2025_stream_is_resumed_with_last_event_id_and_the_call_goes_on(hubs):
    first, _ = hubs
    session = open_2025_session(first)
    call = {"jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {"name": "slow_compute", "arguments": {"seconds": 2, "label": "dropped-2025"}}}
    with httpx.Client(timeout=30) as client, client.stream("POST", first.url, headers=session, json=call) as stream:
        priming = next(line for line in stream.iter_lines() if line.startswith("id:"))
    # The client went away; the call goes on (2025-11-25: a disconnection is not a cancellation).
    last_event_id = priming.removeprefix("id:").strip()
    resumed_headers = {**session, "Accept": "text/event-stream", "last-event-id": last_event_id}
    answer = None
    with httpx.Client(timeout=30) as client, client.stream("GET", first.url, headers=resumed_headers) as stream:
        for line in stream.iter_lines():  # the resumed stream stays open: read up to the answer
            if line.startswith("data:") and line[5:].strip() and json.loads(line[5:]).get("id") == 7:
                answer = json.loads(line[5:])
                break

    assert answer is not None and answer["result"]["content"][0]["text"] == "Computed dropped-2025 in 2 s"
    assert execution_labelled(first, "dropped-2025", "success")["status"] == "success"


async def test_a_session_cannot_resume_another_sessions_stream(hubs):
    # Event ids are easy to guess; what a stream carried is its own session's alone.
    first, _ = hubs
    owner, other = open_2025_session(first), open_2025_session(first)
    call = {"jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {"name": "slow_compute", "arguments": {"seconds": 1, "label": "owners-secret"}}}
    priming, lines = call_on_stream(first, owner, call)
    assert any("owners-secret" in line for line in lines)

    # The same request id in the other session, then that session asks for the owner's events.
    own_call = {**call, "params": {**call["params"], "arguments": {"seconds": 1, "label": "others-own"}}}
    own_priming, _ = call_on_stream(first, other, own_call)

    assert not any("owners-secret" in line for line in resumed_stream_lines(first, other, priming))
    # Its own stream's events (after its priming event) are its own only.
    own_replay = resumed_stream_lines(first, other, own_priming)
    assert any("others-own" in line for line in own_replay)
    assert not any("owners-secret" in line for line in own_replay)
    # The owner still resumes its own.
    assert any("owners-secret" in line for line in resumed_stream_lines(first, owner, priming))
