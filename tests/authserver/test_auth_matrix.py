"""The auth matrix over REST, MCP (/mcp) and stdio on a real hub: no token, a bad one, an
expired one, a revoked one, one for another resource (RFC 8707), one missing a scope, and
another user's execution, with API tokens (create_token) and OAuth access tokens alike."""

from __future__ import annotations

import json
import sys

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

from tests.mcp_server.conftest import ROOT, Hub

pytestmark = pytest.mark.slow
INITIALIZE = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "matrix", "version": "1"}},
}
ACCEPT = "application/json, text/event-stream"
REFUSED = ["none", "bad", "oauth_expired", "api_expired", "oauth_revoked", "api_revoked", "oauth_elsewhere"]


@pytest.fixture(scope="module")
def tokens(oauth_hub: Hub) -> dict[str, str]:
    made = oauth_hub.manage(
        "shell", "-c",
        "import json; from tests.authserver.tokens import make_tokens; "
        f"print(json.dumps(make_tokens(base={oauth_hub.base + '/'!r}, mcp_url={oauth_hub.url!r})))",
    )
    found = json.loads(made.stdout.strip().splitlines()[-1])
    return {**found, "none": "", "bad": "mcps_not-a-real-token", "bob": oauth_hub.tokens["bob"]}


@pytest.fixture(scope="module")
def bobs_execution(oauth_hub: Hub, tokens) -> str:
    response = rest(
        oauth_hub, "POST", "/api/v1/tools/text_statistics/execute/", tokens["bob"], {"arguments": {"text": "Bob's."}}
    )
    assert response.status_code == 200, response.text
    return response.json()["id"]


def rest(hub: Hub, method: str, path: str, token: str, body: dict | None = None) -> httpx2.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx2.request(method, f"{hub.base}{path}", headers=headers, json=body, timeout=30)


def mcp_post(hub: Hub, token: str, body: dict, session: str | None = None) -> httpx2.Response:
    headers = {"Content-Type": "application/json", "Accept": ACCEPT}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if session:
        headers.update({"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"})
    return httpx2.post(hub.url, json=body, headers=headers, timeout=30)


def mcp_session(hub: Hub, token: str) -> str:
    opened = mcp_post(hub, token, INITIALIZE)
    assert opened.status_code == 200, opened.text
    session = opened.headers["mcp-session-id"]
    assert mcp_post(hub, token, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session).status_code == 202
    return session


def rpc_result(response: httpx2.Response) -> dict:
    """The JSON-RPC message of a response (JSON, or the first SSE data line)."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        for line in response.text.splitlines():
            if line.startswith("data:") and line[5:].strip():
                return json.loads(line[5:])
    return response.json()


def stdio(hub: Hub, token: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=["manage.py", "mcp_stdio", f"--token={token}"], cwd=str(ROOT), env=hub.env,
    )


# --- REST -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [*REFUSED, "oauth_mcp"])
def test_rest_refuses_with_401_and_a_challenge(oauth_hub, tokens, name):
    response = rest(oauth_hub, "GET", "/api/v1/tools/", tokens[name])

    assert response.status_code == 401, (name, response.text)
    challenge = response.headers["www-authenticate"]
    assert (
        challenge.startswith("Bearer ")
        and f'resource_metadata="{oauth_hub.base}/.well-known/oauth-protected-resource"' in challenge
    )
    assert 'scope="tools:read tools:call executions:read"' in challenge


@pytest.mark.parametrize("name", ["api", "oauth_site", "oauth_unbound"])
def test_rest_accepts_api_tokens_and_oauth_tokens_for_it(oauth_hub, tokens, name):
    assert rest(oauth_hub, "GET", "/api/v1/tools/", tokens[name]).status_code == 200
    called = rest(
        oauth_hub, "POST", "/api/v1/tools/text_statistics/execute/", tokens[name], {"arguments": {"text": "Hi."}}
    )
    assert called.status_code == 200 and called.json()["status"] == "success"


@pytest.mark.parametrize("name", ["oauth_read_only", "api_read_only"])
def test_rest_lists_but_refuses_a_call_without_tools_call_with_403(oauth_hub, tokens, name):
    assert rest(oauth_hub, "GET", "/api/v1/tools/", tokens[name]).status_code == 200
    called = rest(
        oauth_hub, "POST", "/api/v1/tools/text_statistics/execute/", tokens[name], {"arguments": {"text": "Hi."}}
    )

    assert called.status_code == 403 and called.json()["code"] == "insufficient_scope"
    challenge = called.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and "tools:call" in challenge and "resource_metadata=" in challenge
    assert rest(oauth_hub, "GET", "/api/v1/executions/", tokens[name]).status_code == 403


def test_rest_refuses_executions_without_executions_read(oauth_hub, tokens):
    assert rest(oauth_hub, "GET", "/api/v1/executions/", tokens["oauth_no_executions"]).status_code == 403
    assert rest(oauth_hub, "GET", "/api/v1/executions/", tokens["oauth_site"]).status_code == 200


def test_rest_answers_another_users_execution_with_404(oauth_hub, tokens, bobs_execution):
    assert rest(oauth_hub, "GET", f"/api/v1/executions/{bobs_execution}/", tokens["oauth_site"]).status_code == 404
    assert rest(oauth_hub, "GET", f"/api/v1/executions/{bobs_execution}/", tokens["bob"]).status_code == 200


# --- MCP over HTTP ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [*REFUSED, "oauth_unbound"])
def test_mcp_refuses_with_401_and_a_challenge(oauth_hub, tokens, name):
    response = mcp_post(oauth_hub, tokens[name], INITIALIZE)

    assert response.status_code == 401, (name, response.text)
    challenge = response.headers["www-authenticate"]
    assert f'resource_metadata="{oauth_hub.base}/.well-known/oauth-protected-resource/mcp"' in challenge
    assert 'scope="tools:read tools:call executions:read"' in challenge
    assert response.json()["error"] == "invalid_token"


@pytest.mark.parametrize("name", ["api", "oauth_mcp", "oauth_site"])
def test_mcp_accepts_api_tokens_and_oauth_tokens_for_it(oauth_hub, tokens, name):
    session = mcp_session(oauth_hub, tokens[name])
    called = mcp_post(
        oauth_hub,
        tokens[name],
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "text_statistics", "arguments": {"text": "Hi."}},
        },
        session,
    )
    assert called.status_code == 200
    assert rpc_result(called)["result"]["isError"] is False


@pytest.mark.parametrize("name", ["oauth_read_only", "api_read_only"])
def test_mcp_lists_but_refuses_a_call_without_tools_call_with_403(oauth_hub, tokens, name):
    session = mcp_session(oauth_hub, tokens[name])
    listed = mcp_post(oauth_hub, tokens[name], {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, session)
    called = mcp_post(
        oauth_hub,
        tokens[name],
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "text_statistics", "arguments": {"text": "Hi."}},
        },
        session,
    )

    assert listed.status_code == 200 and "text_statistics" in {t["name"] for t in rpc_result(listed)["result"]["tools"]}
    assert called.status_code == 403
    challenge = called.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and "tools:call" in challenge
    assert called.json()["id"] == 3


def test_mcp_refuses_resources_without_executions_read(oauth_hub, tokens):
    session = mcp_session(oauth_hub, tokens["oauth_no_executions"])
    listed = mcp_post(
        oauth_hub, tokens["oauth_no_executions"], {"jsonrpc": "2.0", "id": 2, "method": "resources/list"}, session
    )
    assert listed.status_code == 403 and "executions:read" in listed.headers["www-authenticate"]


def test_mcp_answers_another_users_execution_as_not_found(oauth_hub, tokens, bobs_execution):
    session = mcp_session(oauth_hub, tokens["oauth_mcp"])
    read = mcp_post(oauth_hub, tokens["oauth_mcp"], {
        "jsonrpc": "2.0", "id": 2, "method": "resources/read", "params": {"uri": f"execution://{bobs_execution}"},
    }, session)
    assert read.status_code == 200
    assert rpc_result(read)["error"]["code"] == -32002


def test_a_revoked_token_is_refused_at_once_in_an_open_mcp_session(oauth_hub, tokens):
    made = oauth_hub.manage(
        "shell", "-c",
        "from accounts.models import User; from tests.authserver.tokens import oauth_token_row; "
        f"raw, row = oauth_token_row(User.objects.get(username='alice'), resource=[{oauth_hub.url!r}]); "
        "print(raw, row.pk)",
    )
    token, pk = made.stdout.split()[-2:]
    session = mcp_session(oauth_hub, token)
    oauth_hub.manage(
        "shell", "-c", f"from oauth2_provider.models import AccessToken; AccessToken.objects.get(pk={pk}).revoke()"
    )

    listed = mcp_post(oauth_hub, token, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, session)
    assert listed.status_code == 401


# --- stdio ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["bad", "oauth_expired", "api_expired", "oauth_revoked", "api_revoked", "oauth_elsewhere"]
)
def test_stdio_refuses_to_start(oauth_hub, tokens, name):
    completed = oauth_hub.manage("mcp_stdio", f"--token={tokens[name]}", check=False)

    assert completed.returncode == 1
    assert "invalid, expired or revoked" in completed.stderr or "not issued for this resource" in completed.stderr


@pytest.mark.parametrize("name", ["oauth_read_only", "api_read_only"])
async def test_stdio_lists_but_refuses_a_call_without_tools_call(oauth_hub, tokens, name):
    async with Client(stdio(oauth_hub, tokens[name])) as client:
        listed = {t.name for t in (await client.list_tools()).tools}
        called = await client.call_tool("text_statistics", {"text": "Hi."})

    assert "text_statistics" in listed
    assert called.is_error is True and "tools:call" in called.content[0].text


async def test_stdio_answers_another_users_execution_as_not_found(oauth_hub, tokens, bobs_execution):
    async with Client(stdio(oauth_hub, tokens["oauth_mcp"])) as client:
        with pytest.raises(MCPError) as refused:
            await client.read_resource(f"execution://{bobs_execution}")
        without = Client(stdio(oauth_hub, tokens["oauth_no_executions"]))
    # The client speaks 2026-07-28, where a missing resource is Invalid Params (SEP-2164),
    # exactly as for an id that does not exist.
    assert refused.value.error.code == -32602 and "Resource not found" in refused.value.error.message
    async with without as client:
        with pytest.raises(MCPError) as no_scope:
            await client.list_resources()
    assert "executions:read" in no_scope.value.error.message
