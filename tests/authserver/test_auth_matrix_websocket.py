"""The auth matrix on the add-in's WebSocket (the whole ASGI app, in process): bad, expired,
revoked and wrong-resource tokens are refused (4001); an OAuth token for the site works; a
token without tools:call lists but cannot call; another user's execution is not found; a
token revoked while the socket is open ends it at the next frame."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from accounts.models import User
from executions import services
from tests.authserver.tokens import make_tokens, oauth_token_row
from tests.realtime.test_addin_consumer import closed_with, connect, signed_in

pytestmark = pytest.mark.django_db(transaction=True)
# The communicator sends no Host header: the socket's URL is http://localhost/ws/addin/.
BASE = "http://localhost/"


@pytest.fixture
def tokens(db) -> dict[str, str]:
    return make_tokens(base=BASE, mcp_url=BASE + "mcp")


@pytest.mark.parametrize(
    "name", ["bad", "oauth_expired", "api_expired", "oauth_revoked", "api_revoked", "oauth_elsewhere", "oauth_mcp"],
)
async def test_it_refuses_a_token_that_is_not_valid_here(tokens, name):
    token = "mcps_not-a-real-token" if name == "bad" else tokens[name]
    communicator = await connect()
    await communicator.send_json_to({"type": "auth", "token": token})
    answer = await communicator.receive_json_from(timeout=10)

    assert answer["type"] == "error" and answer["code"] == "unauthorized"
    assert await closed_with(communicator) == 4001


@pytest.mark.parametrize("name", ["api", "oauth_site", "oauth_unbound"])
async def test_it_accepts_api_tokens_and_oauth_tokens_for_it(tokens, name):
    communicator = await signed_in(tokens[name])
    await communicator.send_json_to(
        {"type": "tool_execute", "id": 1, "tool": "text_statistics", "arguments": {"text": "Hi."}}
    )
    frames = [await communicator.receive_json_from(timeout=10) for _ in range(2)]
    await communicator.disconnect()
    assert [f["type"] for f in frames] == ["execution_accepted", "execution_result"]
    assert frames[1]["status"] == "success"


@pytest.mark.parametrize("name", ["oauth_read_only", "api_read_only"])
async def test_a_token_without_tools_call_lists_but_cannot_call(tokens, name):
    communicator = await signed_in(tokens[name])
    await communicator.send_json_to({"type": "tools_list", "id": 1})
    listed = await communicator.receive_json_from(timeout=10)
    await communicator.send_json_to(
        {"type": "tool_execute", "id": 2, "tool": "text_statistics", "arguments": {"text": "Hi."}}
    )
    refused = await communicator.receive_json_from(timeout=10)
    await communicator.disconnect()

    assert "text_statistics" in {t["name"] for t in listed["tools"]}
    assert refused == {"type": "error", "id": 2, "code": "insufficient_scope", "message": refused["message"]}
    assert "tools:call" in refused["message"]


async def test_another_users_execution_is_not_found_and_executions_need_their_scope(tokens):
    bob = await database_sync_to_async(User.objects.create_user)(username="bob", password="x-bob-1234")
    execution = await database_sync_to_async(services.execute_tool)(
        user=bob, tool_name="text_statistics", arguments={"text": "Bob's."}, via="cli",
    )
    communicator = await signed_in(tokens["oauth_site"])
    await communicator.send_json_to({"type": "execution_subscribe", "id": 1, "execution_id": str(execution.id)})
    not_found = await communicator.receive_json_from(timeout=10)
    await communicator.disconnect()
    limited = await signed_in(tokens["oauth_no_executions"])
    await limited.send_json_to({"type": "execution_subscribe", "id": 2, "execution_id": str(execution.id)})
    no_scope = await limited.receive_json_from(timeout=10)
    await limited.disconnect()

    assert not_found["type"] == "error" and not_found["code"] == "not_found"
    assert no_scope["type"] == "error" and no_scope["code"] == "insufficient_scope"


async def test_a_token_revoked_while_connected_is_refused_at_the_next_frame(db):
    alice = await database_sync_to_async(User.objects.create_user)(username="carol", password="x-carol-123")
    token, row = await database_sync_to_async(oauth_token_row)(alice, resource=[BASE])
    communicator = await signed_in(token)
    await database_sync_to_async(row.revoke)()

    await communicator.send_json_to({"type": "tools_list", "id": 1})
    refused = await communicator.receive_json_from(timeout=10)
    assert refused["code"] == "unauthorized"
    assert await closed_with(communicator) == 4001
