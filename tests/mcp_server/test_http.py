"""/mcp over real HTTP: daphne serving the hub (tests/mcp_server/conftest.py), the
official Python SDK's Streamable HTTP client, and raw requests for what no well-behaved
client sends. What the hub recorded is read back through its REST API."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import time
from typing import Any

import anyio
import httpx2
import jsonschema
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.mcp_server.conftest import PYTHON_SERVER, Hub, start_hub, stop_hub

pytestmark = pytest.mark.slow

ACCEPT = "application/json, text/event-stream"
INITIALIZE = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}},
}


def client(hub: Hub, token: str | None, mode: str = "auto", **kwargs: Any) -> Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300))
    return Client(streamable_http_client(hub.url, http_client=http), mode=mode, **kwargs)


def post(
    hub: Hub, body: Any, *, token: str | None = None, headers: dict[str, str] | None = None, raw: bytes | None = None
) -> httpx2.Response:
    sent = {"Content-Type": "application/json", "Accept": ACCEPT, **(headers or {})}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    content = raw if raw is not None else json.dumps(body).encode()
    return httpx2.post(hub.url, content=content, headers=sent, timeout=30)


def open_session(hub: Hub, token: str) -> str:
    response = post(hub, INITIALIZE, token=token)
    assert response.status_code == 200
    session_id = response.headers["mcp-session-id"]
    done = post(hub, {"jsonrpc": "2.0", "method": "notifications/initialized"}, token=token,
                headers={"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"})
    assert done.status_code == 202
    return session_id


def sse_messages(response: httpx2.Response) -> list[dict[str, Any]]:
    if response.headers["content-type"].startswith("application/json"):
        return [response.json()]
    return [
        json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:") and line[5:].strip()
    ]


def executions(hub: Hub, **filters: str) -> list[dict[str, Any]]:
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    return hub.api(f"/api/v1/executions/?{query}")["results"]


# --- the happy path, in both eras ---------------------------------------------------------------


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_token_holder_lists_and_calls_tools_and_the_call_is_recorded(hub, mode):
    async with client(hub, hub.tokens["alice"], mode) as session:
        version = session.protocol_version
        listed = {t.name for t in (await session.list_tools()).tools}
        result = await session.call_tool("text_statistics", {"text": f"Hello there. Era {mode} here."})

    assert version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
    assert {"text_statistics", "spell_check", "test_simple_text"} <= listed
    assert result.is_error is False and result.structured_content["words"] == 5
    execution_id = result.meta["mcpsite/execution"].removeprefix("execution://")
    [row] = [e for e in executions(hub, via="mcp", tool="text_statistics") if e["id"] == execution_id]
    assert row["user"] == "alice" and row["status"] == "success" and row["result"] == result.structured_content
    session_row = hub.api(f"/api/v1/sessions/{row['session']}/")
    assert session_row["kind"] == "mcp" and session_row["user"] == "alice"
    expected_transport = "streamable-http" if mode == "legacy" else "streamable-http (stateless)"
    assert session_row["client_info"]["transport"] == expected_transport


def test_readyz_holds_a_new_web_process_back_until_its_tool_processes_are_up(tmp_path):
    """Its first request starts the tool processes (the fork server imports the tool
    libraries: seconds); until they are up a call would wait, so /readyz says 503
    "starting" and a load balancer sends the calls elsewhere."""
    hub = start_hub(tmp_path)  # answers /healthz: its first request has been served
    try:
        answers = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            answers.append(httpx2.get(f"{hub.base}/readyz", timeout=10))
            if answers[-1].status_code != 503:
                break
            time.sleep(0.05)
        for early in answers[:-1]:
            assert early.json()["status"] == "starting"
            assert early.json()["checks"]["tool_processes"]["status"] == "starting"
        ready = answers[-1]
        assert ready.status_code == 200, ready.text
        processes = ready.json()["checks"]["tool_processes"]
        assert processes["status"] == "ok" and processes["size"] >= 1
        assert processes["idle"] == processes["size"]  # every one started, none busy
    finally:
        stop_hub(hub)


async def test_readyz_reports_the_mcp_server_running_once_it_served(hub):
    async with client(hub, hub.tokens["alice"]) as session:
        await session.list_tools()
    readiness = httpx2.get(f"{hub.base}/readyz", timeout=10).json()

    assert readiness["checks"]["mcp"] == {"status": "ok", "stateless": False}


def open_mcp_sessions(hub: Hub) -> float:
    metrics = httpx2.get(f"{hub.base}/metrics", timeout=10).text
    [line] = [row for row in metrics.splitlines() if row.startswith("mcpsite_open_mcp_sessions ")]
    return float(line.split()[1])


async def test_a_handshake_session_ends_when_the_client_closes_it(hub):
    before = open_mcp_sessions(hub)
    async with client(hub, hub.tokens["alice"], "legacy") as session:
        result = await session.call_tool("text_statistics", {"text": "Closing time."})
        during = open_mcp_sessions(hub)
    execution_id = result.meta["mcpsite/execution"].removeprefix("execution://")
    row = hub.api(f"/api/v1/executions/{execution_id}/")

    for _ in range(50):  # the client's DELETE ends the session; its teardown records the end
        ended = hub.api(f"/api/v1/sessions/{row['session']}/")["ended"]
        if ended:
            break
        await asyncio.sleep(0.1)
    assert ended is not None
    assert during == before + 1 and open_mcp_sessions(hub) == before


async def test_users_only_see_the_tools_they_may_use(hub):
    async with client(hub, hub.tokens["alice"]) as session:
        alices = {t.name for t in (await session.list_tools()).tools}
    async with client(hub, hub.tokens["root"]) as session:
        roots = {t.name for t in (await session.list_tools()).tools}
    rest = {t["name"] for t in hub.api("/api/v1/tools/", token=hub.tokens["alice"])}

    assert alices == rest  # the same registry and permissions as every other door
    assert alices <= roots


# --- authentication -------------------------------------------------------------------------------


def test_no_token_is_401_pointing_at_the_protected_resource_metadata(hub):
    response = post(hub, INITIALIZE)

    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'resource_metadata="{hub.base}/.well-known/oauth-protected-resource/mcp"' in challenge
    metadata = httpx2.get(f"{hub.base}/.well-known/oauth-protected-resource/mcp", timeout=10)
    assert metadata.status_code == 200
    assert metadata.json()["resource"] == hub.url
    assert metadata.json()["authorization_servers"] == [hub.base]
    assert metadata.json()["bearer_methods_supported"] == ["header"]


def test_a_bad_or_foreign_scheme_token_is_401(hub):
    assert post(hub, INITIALIZE, token="mcps_not-a-real-token").status_code == 401
    basic = post(hub, INITIALIZE, headers={"Authorization": "Basic YWxpY2U6cHc="})
    assert basic.status_code == 401 and "invalid_token" in basic.headers["www-authenticate"]


async def test_the_sdk_client_without_a_token_gets_an_error_not_a_hang(hub):
    with pytest.raises(BaseException) as failed:
        with anyio.fail_after(30):
            async with client(hub, None) as session:
                await session.list_tools()

    def leaves(error: BaseException) -> list[BaseException]:
        nested = getattr(error, "exceptions", None)
        return [leaf for inner in nested for leaf in leaves(inner)] if nested else [error]

    # The SDK client reports the 401 as an MCPError on connecting, well before the deadline.
    assert [type(e).__name__ for e in leaves(failed.value)] == ["MCPError"]


def test_a_session_belongs_to_the_token_that_opened_it(hub):
    session_id = open_session(hub, hub.tokens["alice"])
    headers = {"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}

    assert post(hub, listing, token=hub.tokens["bob"], headers=headers).status_code == 404
    assert post(hub, listing, token=hub.tokens["alice"], headers=headers).status_code == 200


async def test_anonymous_calls_when_allowed_act_as_the_anonymous_user(open_hub):
    async with client(open_hub, None) as session:
        result = await session.call_tool("text_statistics", {"text": "Nobody in particular."})

    assert result.is_error is False
    row = open_hub.api(f"/api/v1/executions/{result.meta['mcpsite/execution'].removeprefix('execution://')}/")
    assert row["user"] == "mcp-anonymous" and row["via"] == "mcp"


# --- bad requests: the right status and a JSON-RPC error, never a 500 ------------------------------


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("malformed JSON", 400, types.PARSE_ERROR),
        ("empty body", 400, types.PARSE_ERROR),
        ("not an object", 400, types.INVALID_REQUEST),
        ("a batch", 400, types.INVALID_REQUEST),
        ("wrong jsonrpc version", 400, types.INVALID_REQUEST),
        ("no method, no result", 400, types.INVALID_REQUEST),
        ("params not an object", 400, types.INVALID_REQUEST),
        ("method not a string", 400, types.INVALID_REQUEST),
        ("wrong content type", 415, types.INVALID_REQUEST),
        ("oversize body", 413, types.INVALID_REQUEST),
        ("foreign Origin", 403, types.INVALID_REQUEST),
        ("foreign Host", 421, types.INVALID_REQUEST),
        ("unknown session", 404, types.INVALID_REQUEST),
    ],
)
def test_a_bad_request_gets_its_status_and_a_json_rpc_error(hub, case, status, code):
    token = hub.tokens["alice"]
    cases: dict[str, dict[str, Any]] = {
        "malformed JSON": {"raw": b'{"jsonrpc": "2.0", "id": 1, "method": '},
        "empty body": {"raw": b""},
        "not an object": {"body": "tools/list"},
        "a batch": {"body": [INITIALIZE]},
        "wrong jsonrpc version": {"body": {**INITIALIZE, "jsonrpc": "1.0"}},
        "no method, no result": {"body": {"jsonrpc": "2.0", "id": 1}},
        "params not an object": {"body": {**INITIALIZE, "params": [1, 2]}},
        "method not a string": {"body": {**INITIALIZE, "method": 7}},
        "wrong content type": {"body": INITIALIZE, "headers": {"Content-Type": "text/plain"}},
        "oversize body": {"raw": json.dumps({**INITIALIZE, "pad": "x" * (4 * 1024 * 1024)}).encode()},
        "foreign Origin": {"body": INITIALIZE, "headers": {"Origin": "http://evil.example"}},
        "foreign Host": {"body": INITIALIZE, "headers": {"Host": "evil.example"}},
        "unknown session": {"body": {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
                            "headers": {"Mcp-Session-Id": "0" * 32, "MCP-Protocol-Version": "2025-11-25"}},
    }
    response = post(
        hub, cases[case].get("body"), token=token, headers=cases[case].get("headers"), raw=cases[case].get("raw")
    )

    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    assert "Traceback" not in hub.log()


def test_an_allowed_origin_and_the_hubs_own_origin_are_let_through(hub):
    port = hub.base.rsplit(":", 1)[1]
    for origin in (hub.base, "http://localhost:6274", f"http://127.0.0.1:{port}"):
        assert post(hub, INITIALIZE, token=hub.tokens["alice"], headers={"Origin": origin}).status_code == 200


@pytest.mark.parametrize("origin", [
    "http://127.0.0.1:1@evil.example",  # a URL whose host is evil.example, not an origin on 127.0.0.1
    "http://localhost:6274/path",
    "http://user@localhost:6274",
    "http://localhost:6274?x",
    "http://127.0.0.1:99999",
    "null",
])
def test_a_value_that_is_not_exactly_an_origin_is_refused(hub, origin):
    response = post(hub, INITIALIZE, token=hub.tokens["alice"], headers={"Origin": origin})
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == types.INVALID_REQUEST


def test_inside_a_session_unknown_methods_and_bad_params_are_json_rpc_errors(hub):
    session_id = open_session(hub, hub.tokens["alice"])
    headers = {"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}

    def ask(message: dict[str, Any]) -> dict[str, Any]:
        response = post(hub, message, token=hub.tokens["alice"], headers=headers)
        assert response.status_code == 200
        [answer] = [m for m in sse_messages(response) if m.get("id") == message["id"]]
        return answer

    assert ask({"jsonrpc": "2.0", "id": 3, "method": "no/such/method"})["error"]["code"] == types.METHOD_NOT_FOUND
    assert (
        ask({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": 5}})["error"]["code"]
        == types.INVALID_PARAMS
    )
    unknown_tool = ask({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "nope", "arguments": {}}})
    assert unknown_tool["error"]["code"] == types.INVALID_PARAMS
    bad_arguments = ask({"jsonrpc": "2.0", "id": 6, "method": "tools/call",
                         "params": {"name": "text_statistics", "arguments": {"text": 42}}})
    assert bad_arguments["result"]["isError"] is True
    assert "text" in bad_arguments["result"]["content"][0]["text"]
    assert "Traceback" not in hub.log()


# --- a remote server added by another process: list_changed, then a cancelled call -----------------


async def test_a_change_in_another_process_reaches_connected_clients_and_cancelling_a_call_is_recorded(hub):
    heard_legacy = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            heard_legacy.set()

    async with client(hub, hub.tokens["alice"], "legacy", message_handler=on_message) as legacy, \
            client(hub, hub.tokens["alice"], "auto") as modern:
        before = {t.name for t in (await legacy.list_tools()).tools}
        async with modern.listen(tools_list_changed=True) as subscription:
            # `mcp_servers add` in its own process; daphne picks the row up and syncs it.
            added = await asyncio.to_thread(
                hub.manage, "mcp_servers", "add", "py", "--command", f"{sys.executable} {PYTHON_SERVER} stdio"
            )
            assert "py__sleep" in added.stdout
            with anyio.fail_after(30):
                await heard_legacy.wait()
                event = await subscription.__anext__()
        after = {t.name for t in (await legacy.list_tools()).tools}
        assert type(event).__name__ == "ToolsListChanged"
        assert "py__sleep" not in before and {"py__sleep", "py__echo"} <= after

        # A client that stops waiting cancels its call (notifications/cancelled on 2025-11-25,
        # the closed request on 2026-07-28); the execution ends as cancelled, not running.
        for session in (legacy, modern):
            with pytest.raises(MCPError):
                await session.call_tool("py__sleep", {"seconds": 30}, read_timeout_seconds=1.0)

    # Under a loaded CI machine the cancel can take seconds to be recorded; a cancel that
    # never arrived would show as "success" when the 30 s sleep ends, and fail here.
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        rows = executions(hub, tool="py__sleep")
        if len(rows) == 2 and all(r["status"] != "running" for r in rows):
            break
        await asyncio.sleep(0.2)
    assert [r["status"] for r in rows] == ["cancelled", "cancelled"]
    assert all(r["server"] == "py" and r["via"] == "mcp" for r in rows)


# --- a background tool on a real worker ----------------------------------------------------------


@pytest.fixture(scope="module")
def worker_hub(tmp_path_factory):
    """The hub on Redis (channel layer, broker) with a real Celery worker, as deployed."""
    import os
    import urllib.parse

    from tests.mcp_server.conftest import start_hub, stop_hub
    from tests.processes import start_worker, stop_group

    if not os.environ.get("REDIS_URL"):
        pytest.skip("needs REDIS_URL (CI's services pass)")
    # Redis DB 13: the test process empties its own REDIS_URL database between tests.
    redis_url = urllib.parse.urlsplit(os.environ["REDIS_URL"])._replace(path="/13").geturl()
    data = tmp_path_factory.mktemp("worker-hub")
    started = start_hub(data, REDIS_URL=redis_url)
    worker = start_worker(started.env, data)
    try:
        yield started
    finally:
        stop_group(worker)
        stop_hub(started)


@pytest.mark.services
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_background_tool_runs_on_a_worker_and_its_progress_and_result_come_back(worker_hub, mode):
    progress: list[float] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(done)

    text = "\n\n".join(f"Paragraph {i} talks about hubs, workers and tools. It has two sentences." for i in range(40))
    async with client(worker_hub, worker_hub.tokens["alice"], mode) as session:
        result = await session.call_tool("analyze_document", {"text": text}, progress_callback=on_progress)

    assert result.is_error is False, result.content
    assert result.structured_content["sections"]
    assert progress and progress == sorted(progress)
    row = worker_hub.api(f"/api/v1/executions/{result.meta['mcpsite/execution'].removeprefix('execution://')}/")
    assert row["mode"] == "background" and row["status"] == "success" and row["via"] == "mcp"


# --- stateless mode, for several processes behind a load balancer -----------------------------------


@pytest.fixture(scope="module")
def stateless_hub(tmp_path_factory):
    from tests.mcp_server.conftest import start_hub, stop_hub

    started = start_hub(tmp_path_factory.mktemp("stateless-hub"), MCP_STATELESS="1")
    try:
        yield started
    finally:
        stop_hub(started)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_stateless_mode_serves_both_eras_without_sessions(stateless_hub, mode):
    response = post(stateless_hub, INITIALIZE, token=stateless_hub.tokens["alice"])
    assert response.status_code == 200 and "mcp-session-id" not in response.headers

    async with client(stateless_hub, stateless_hub.tokens["alice"], mode) as session:
        listed = await session.list_tools()
        result = await session.call_tool("text_statistics", {"text": "No session needed."})

    text_statistics = next(t for t in listed.tools if t.name == "text_statistics")
    jsonschema.validate(result.structured_content, text_statistics.output_schema)
    assert result.structured_content["words"] == 3
    row = stateless_hub.api(f"/api/v1/executions/{result.meta['mcpsite/execution'].removeprefix('execution://')}/")
    assert row["via"] == "mcp" and row["user"] == "alice" and row["session"]


# --- shutdown -------------------------------------------------------------------------------------


async def test_stopping_daphne_closes_open_mcp_sessions_and_records_their_end(tmp_path):
    from tests.mcp_server.conftest import start_hub, stop_hub

    hub = start_hub(tmp_path)
    try:
        async with client(hub, hub.tokens["alice"], "legacy") as session:
            result = await session.call_tool("text_statistics", {"text": "Open while stopping."})
            row = hub.api(f"/api/v1/executions/{result.meta['mcpsite/execution'].removeprefix('execution://')}/")
            assert hub.api(f"/api/v1/sessions/{row['session']}/")["ended"] is None
            # The client still holds its session (and its standalone GET stream) open.
            hub.process.terminate()
            await asyncio.to_thread(hub.process.wait, 15)
    finally:
        stop_hub(hub)

    assert hub.process.returncode == 0
    assert "StreamableHTTP session manager shutting down" in hub.log()
    with sqlite3.connect(hub.data / "db.sqlite3") as db:  # what the stopped process recorded
        [(ended,)] = db.execute(
            "SELECT ended FROM executions_session WHERE id = ?", (row["session"].replace("-", ""),)
        ).fetchall()
    assert ended is not None


@pytest.mark.parametrize("path", ["/api/v1/executions/", "/api/v1/sessions/", "/api/v1/tools/", "/healthz"])
def test_head_answers_headers_only_so_the_connection_serves_the_next_request(hub, path):
    """HEAD then GET on one kept-alive connection, read with a strict HTTP client: a body
    after the HEAD answer would be taken for the next status line."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(hub.base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    headers = {"Authorization": f"Bearer {hub.tokens['alice']}"}
    try:
        connection.request("HEAD", path, headers=headers)
        head = connection.getresponse()
        assert head.status == 200 and head.read() == b""
        connection.request("GET", path, headers=headers)
        get = connection.getresponse()
        assert get.status == 200 and get.read()
    finally:
        connection.close()


_BOMB = "[" * 6_000 + "]" * 6_000


@pytest.mark.parametrize("raw", [
    _BOMB,
    '{"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"x": ' + _BOMB + "}}",
    '{"jsonrpc": "2.0", "id": ' + _BOMB + ', "method": "ping"}',
    '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "calculate", "arguments": {"x": '
    + _BOMB + "}}}",
    '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "calculate", "arguments": {"x": NaN}}}',
    '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "calculate", "arguments": {"x": 1e999}}}',
])
def test_a_nesting_bomb_or_a_number_outside_json_is_a_parse_error_not_a_500(hub, raw):
    response = post(hub, None, token=hub.tokens["alice"], raw=raw.encode())
    assert response.status_code == 400, response.text[:300]
    assert response.json()["error"]["code"] == types.PARSE_ERROR
    assert "Traceback" not in hub.log()


def test_a_request_id_already_in_flight_on_a_session_is_refused_at_once(hub):
    """Ten requests with one id on one 2025-11-25 session, at once: the transport keys
    response streams by id, so duplicates once left every one of them hanging."""
    from concurrent.futures import ThreadPoolExecutor

    token = hub.tokens["alice"]
    session_id = open_session(hub, token)
    headers = {"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}
    call = {"jsonrpc": "2.0", "id": 77, "method": "tools/call",
            "params": {"name": "test_tool_with_progress", "arguments": {}}}
    with ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(lambda _: post(hub, call, token=token, headers=headers), range(10)))

    answered = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert answered and refused, [r.status_code for r in responses]
    for response in answered:
        assert any(m.get("id") == 77 and "result" in m for m in sse_messages(response))
    for response in refused:
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == types.INVALID_REQUEST and "already in flight" in error["message"]
    # The id is free again once its request is answered.
    again = post(hub, call, token=token, headers=headers)
    assert again.status_code == 200 and any("result" in m for m in sse_messages(again))


@pytest.fixture(scope="module")
def capped_hub(tmp_path_factory):
    started = start_hub(tmp_path_factory.mktemp("capped"), MCP_MAX_SESSIONS_PER_TOKEN="3")
    try:
        yield started
    finally:
        stop_hub(started)


def test_one_token_cannot_take_every_session_and_others_still_open_theirs(capped_hub):
    hub = capped_hub
    alice = [open_session(hub, hub.tokens["alice"]) for _ in range(3)]
    refused = post(hub, INITIALIZE, token=hub.tokens["alice"])
    assert refused.status_code == 429
    assert "MCP_MAX_SESSIONS_PER_TOKEN" in refused.json()["error"]["message"]
    assert open_session(hub, hub.tokens["bob"])  # another user's token is not held back

    ended = httpx2.delete(
        hub.url,
        headers={
            "Authorization": f"Bearer {hub.tokens['alice']}",
            "Mcp-Session-Id": alice[0],
            "MCP-Protocol-Version": "2025-11-25",
        },
        timeout=30,
    )
    assert ended.status_code in (200, 204)
    assert open_session(hub, hub.tokens["alice"])  # a place was freed


# --- sessions follow their token -----------------------------------------------------------------


def new_token(hub: Hub, username: str) -> str:
    return hub.manage("create_token", username, "--create-user").stdout.strip()


def shell(hub: Hub, code: str) -> str:
    output = hub.manage("shell", "-c", code).stdout.strip()
    return output.splitlines()[-1] if output else ""


def open_stream(hub: Hub, token: str, session_id: str) -> Any:
    """A 2025-11-25 session's GET stream, read on a thread; returns an event set when it ends
    (the server sends the stream's headers with its first event, so it may end unanswered)."""
    import threading
    import time

    ended = threading.Event()

    def read() -> None:
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream", "Mcp-Session-Id": session_id,
                   "MCP-Protocol-Version": "2025-11-25"}
        try:
            with httpx2.stream("GET", hub.url, headers=headers, timeout=httpx2.Timeout(10, read=120)) as response:
                for _ in response.iter_bytes():
                    pass
        except httpx2.HTTPError:
            pass
        finally:
            ended.set()

    threading.Thread(target=read, daemon=True).start()
    time.sleep(1)  # the stream is open on the server
    assert not ended.is_set()
    return ended


def admin_delete_token(hub: Hub, token: str) -> None:
    """Revoke a token the way an operator does: the delete confirmation in the admin."""
    import re

    shell(hub, "from accounts.models import User; User.objects.filter(username='operator').exists() or "
               "User.objects.create_superuser('operator', password='pw-for-the-test')")
    token_id = shell(hub, "from accounts.models import APIToken; "
                          f"print(APIToken.objects.get(token_key={token[:15]!r}).pk)")
    with httpx2.Client(base_url=hub.base, timeout=30, follow_redirects=True) as web:
        login = web.get("/admin/login/")
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
        signed_in = web.post("/admin/login/?next=/admin/", data={
            "csrfmiddlewaretoken": csrf, "username": "operator", "password": "pw-for-the-test", "next": "/admin/"})
        assert signed_in.status_code == 200 and "logout" in signed_in.text.lower()
        page = web.get(f"/admin/accounts/apitoken/{token_id}/delete/")
        assert page.status_code == 200, page.text[:500]
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        deleted = web.post(f"/admin/accounts/apitoken/{token_id}/delete/",
                           data={"csrfmiddlewaretoken": csrf, "post": "yes"})
        assert deleted.status_code == 200


def list_tools(hub: Hub, token: str, session_id: str) -> httpx2.Response:
    return post(hub, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, token=token,
                headers={"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"})


def test_revoking_a_token_in_the_admin_ends_the_mcp_sessions_opened_with_it(hub):
    token = new_token(hub, "carol")
    other = new_token(hub, "carol")  # the same user's other token keeps its session
    before = open_mcp_sessions(hub)
    session_id = open_session(hub, token)
    kept_id = open_session(hub, other)
    assert list_tools(hub, token, session_id).status_code == list_tools(hub, other, kept_id).status_code == 200
    ended = open_stream(hub, token, session_id)
    kept_stream_ended = open_stream(hub, other, kept_id)
    assert open_mcp_sessions(hub) == before + 2

    admin_delete_token(hub, token)

    # The session's open stream closes at once (not at the idle timeout) and it is gone.
    assert ended.wait(10), "the revoked token's session stream stayed open"
    assert open_mcp_sessions(hub) == before + 1
    assert not kept_stream_ended.is_set()
    assert list_tools(hub, token, session_id).status_code == 401
    assert list_tools(hub, other, kept_id).status_code == 200


def test_a_session_ends_when_its_token_expires(hub):
    token = new_token(hub, "dave")
    shell(
        hub,
        "from datetime import timedelta; from django.utils import timezone; "
        "from accounts.models import APIToken; "
        f"APIToken.objects.filter(token_key={token[:15]!r}).update(expiry=timezone.now() + timedelta(seconds=4))",
    )
    before = open_mcp_sessions(hub)
    session_id = open_session(hub, token)
    assert list_tools(hub, token, session_id).status_code == 200
    assert open_mcp_sessions(hub) == before + 1
    ended = open_stream(hub, token, session_id)
    assert ended.wait(15), "the session outlived its token"
    assert open_mcp_sessions(hub) == before


def test_a_rest_call_whose_client_disconnects_is_cancelled_not_run_for_nobody(hub):
    """Django cancels the request's task when the client goes, but not the view's thread:
    the inline call ran to its end. Now the disconnect cancels it."""
    if "slowpy__sleep" not in hub.manage("mcp_servers", "list").stdout:
        hub.manage("mcp_servers", "add", "slowpy", "--command", f"{sys.executable} {PYTHON_SERVER} stdio")
    auth = {"Authorization": f"Bearer {hub.tokens['bob']}"}
    for _ in range(100):  # the hub notices a row another process added within FEDERATION_RELOAD_INTERVAL
        listed = httpx2.get(f"{hub.base}/api/v1/tools/slowpy__sleep/", headers=auth)
        if listed.status_code == 200 and listed.json()["available"]:
            break
        time.sleep(0.1)
    assert listed.status_code == 200, listed.text
    try:
        answered = httpx2.post(f"{hub.base}/api/v1/tools/slowpy__sleep/execute/", json={"arguments": {"seconds": 60}},
                               headers=auth, timeout=3)
    except httpx2.ReadTimeout:
        pass  # the client gave up and hung up
    else:
        pytest.fail(f"answered before the client hung up: {answered.status_code} {answered.text[:500]}")
    for _ in range(100):
        rows = executions(hub, tool="slowpy__sleep")
        if rows and rows[0]["status"] != "running":
            break
        time.sleep(0.1)
    assert rows[0]["status"] == "cancelled" and "client disconnected" in rows[0]["error"]
