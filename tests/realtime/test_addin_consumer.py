"""The add-in's WebSocket door, driven through the whole ASGI application (origin check,
routing, consumer) with Channels' WebsocketCommunicator, on the embedded defaults."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from accounts.models import User
from accounts.services import token_create
from executions.models import Session, ToolExecution
from mcpsite.asgi import application
from tests.crossproc import SharedFlag
from tools.base import Tool, ToolContext
from tools.registry import registry

pytestmark = pytest.mark.django_db(transaction=True)
Status = ToolExecution.Status
ORIGIN = (b"origin", b"http://127.0.0.1:8000")
TIMEOUT = 10
NO_SUCH_EXECUTION = "3fdb7ac8-42ba-4dd9-aafd-515a35416b1f"


class Gate(Tool):
    """Reports one step, then waits until the test opens the gate or the call is cancelled."""

    name = "test_gate"
    description = "Waits for the test."
    raw_input_schema = {"type": "object", "properties": {}}
    opened = SharedFlag("test_gate_opened")

    def run(self, arguments: dict, ctx: ToolContext) -> dict:
        ctx.report_progress(1, 2, "waiting at the gate")
        while not self.opened.wait(0.02):
            ctx.raise_if_cancelled()
        ctx.report_progress(2, 2, "through")
        return {"passed": True}


@pytest.fixture(autouse=True)
def gate_tool():
    Gate.opened.clear()
    registry.register(Gate, replace=True)
    yield
    Gate.opened.set()
    registry.unregister(Gate.name)


async def connect(headers=(ORIGIN,)) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, "/ws/addin/", headers=list(headers))
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert connected
    return communicator


async def signed_in(token: str) -> WebsocketCommunicator:
    communicator = await connect()
    await communicator.send_json_to({"type": "auth", "token": token, "client": "tests"})
    answer = await communicator.receive_json_from(timeout=TIMEOUT)
    assert answer["type"] == "authenticated"
    return communicator


async def receive_until(communicator: WebsocketCommunicator, frame_type: str) -> tuple[dict, list[dict]]:
    """The first frame of ``frame_type``, and every frame before it."""
    before = []
    while True:
        frame = await communicator.receive_json_from(timeout=TIMEOUT)
        if frame["type"] == frame_type:
            return frame, before
        before.append(frame)


async def assert_still_open(communicator: WebsocketCommunicator) -> None:
    await communicator.send_json_to({"type": "ping", "id": "alive"})
    assert await communicator.receive_json_from(timeout=TIMEOUT) == {"type": "pong", "id": "alive"}


async def closed_with(communicator: WebsocketCommunicator) -> int:
    while True:
        output = await communicator.receive_output(timeout=TIMEOUT)
        if output["type"] == "websocket.close":
            return output.get("code")


# --- Handshake and authentication --------------------------------------------------------


async def test_it_refuses_a_foreign_origin():
    communicator = WebsocketCommunicator(application, "/ws/addin/", headers=[(b"origin", b"https://evil.example")])
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert not connected


@pytest.mark.parametrize("origin", [b"http://user@127.0.0.1:8000", b"http://127.0.0.1:8000/path", b"http://127.0.0.1:1@evil"])
async def test_it_refuses_a_value_that_is_not_exactly_an_origin(origin):
    communicator = WebsocketCommunicator(application, "/ws/addin/", headers=[(b"origin", origin)])
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert not connected


async def test_it_refuses_a_missing_origin():
    communicator = WebsocketCommunicator(application, "/ws/addin/")
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert not connected


async def test_it_accepts_an_origin_from_the_configured_list(settings):
    settings.ADDIN_ALLOWED_ORIGINS = ["https://word.example.com"]
    communicator = WebsocketCommunicator(application, "/ws/addin/", headers=[(b"origin", b"https://word.example.com")])
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert connected
    await communicator.disconnect()
    refused = WebsocketCommunicator(application, "/ws/addin/", headers=[ORIGIN])
    assert not (await refused.connect(timeout=TIMEOUT))[0]


async def test_it_closes_a_connection_that_does_not_authenticate_in_time(settings):
    settings.ADDIN_WS_AUTH_TIMEOUT = 0.2
    communicator = await connect()
    assert await closed_with(communicator) == 4001


async def test_it_answers_frames_before_auth_with_an_error(token):
    communicator = await connect()
    await communicator.send_json_to({"type": "tools_list", "id": 1})
    frame = await communicator.receive_json_from(timeout=TIMEOUT)
    assert frame == {"type": "error", "id": 1, "code": "not_authenticated", "message": frame["message"]}
    await communicator.send_json_to({"type": "auth", "token": token})
    assert (await communicator.receive_json_from(timeout=TIMEOUT))["type"] == "authenticated"
    await communicator.disconnect()


async def test_it_closes_on_a_bad_token(user):
    communicator = await connect()
    await communicator.send_json_to({"type": "auth", "token": "mcps_not-a-real-token"})
    frame = await communicator.receive_json_from(timeout=TIMEOUT)
    assert frame["type"] == "error" and frame["code"] == "unauthorized"
    assert await closed_with(communicator) == 4001


async def test_an_auth_frame_without_a_token_gets_an_error_and_stays_open(token):
    communicator = await connect()
    await communicator.send_json_to({"type": "auth"})
    frame = await communicator.receive_json_from(timeout=TIMEOUT)
    assert frame["code"] == "missing_field"
    await communicator.send_json_to({"type": "auth", "token": token})
    assert (await communicator.receive_json_from(timeout=TIMEOUT))["type"] == "authenticated"
    await communicator.disconnect()


async def test_each_connection_is_an_addin_session_ended_on_disconnect(user, token):
    communicator = await signed_in(token)
    session = await Session.objects.aget(user=user)
    assert session.kind == Session.Kind.ADDIN and session.ended is None
    assert session.client_info["origin"] == "http://127.0.0.1:8000"
    await communicator.disconnect()
    await session.arefresh_from_db()
    assert session.ended is not None


# --- Bad frames ------------------------------------------------------------------------------

DEEP_ARGUMENT: list = []
for _ in range(40):  # deeper than MAX_ARGUMENT_DEPTH (32), within MAX_JSON_DEPTH (64)
    DEEP_ARGUMENT = [DEEP_ARGUMENT]


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "invalid_json"),
        ("[1, 2]", "invalid_frame"),
        (json.dumps({"id": 3}), "missing_field"),
        (json.dumps({"type": "dance", "id": 3}), "unknown_type"),
        (json.dumps({"type": "tool_execute", "id": 3}), "missing_field"),
        (json.dumps({"type": "tool_execute", "tool": "text_statistics"}), "missing_field"),
        (json.dumps({"type": "tool_execute", "id": 3, "tool": "text_statistics", "arguments": [1]}), "invalid_field"),
        (json.dumps({"type": "execution_cancel", "id": 3}), "missing_field"),
        (json.dumps({"type": "execution_subscribe", "id": 3, "execution_id": "nope"}), "invalid_field"),
        # A fixed id that no row has: a random one would differ between xdist workers' collections.
        (json.dumps({"type": "execution_subscribe", "id": 3, "execution_id": NO_SUCH_EXECUTION}), "not_found"),
        (json.dumps({"type": "auth", "token": "again"}), "already_authenticated"),
        # Nesting bombs and numbers outside JSON: refused before they are parsed or stored.
        ('{"type": "tool_execute", "id": 3, "tool": "calculate", "arguments": ' + "[" * 5000 + "]" * 5000 + "}",
         "invalid_json"),
        ('{"type": "tool_execute", "id": 3, "tool": "calculate", "arguments": {"expression": "1", "x": NaN}}',
         "invalid_json"),
        ('{"type": "tool_execute", "id": 3, "tool": "calculate", "arguments": {"expression": "1", "x": 1e999}}',
         "invalid_json"),
        (json.dumps({"type": "tool_execute", "id": 3, "tool": "calculate",
                     "arguments": {"expression": "1", "x": DEEP_ARGUMENT}}), "invalid_arguments"),
    ],
)
async def test_a_bad_frame_gets_an_error_frame_and_the_socket_stays_open(token, frame, code):
    communicator = await signed_in(token)
    await communicator.send_to(text_data=frame)
    answer = await communicator.receive_json_from(timeout=TIMEOUT)
    assert answer["type"] == "error" and answer["code"] == code and answer["message"]
    await assert_still_open(communicator)
    await communicator.disconnect()


async def test_a_binary_frame_gets_an_error_frame(token):
    communicator = await signed_in(token)
    await communicator.send_to(bytes_data=b"\x00\x01")
    answer = await communicator.receive_json_from(timeout=TIMEOUT)
    assert answer["code"] == "binary_frame"
    await assert_still_open(communicator)
    await communicator.disconnect()


async def test_an_oversized_frame_closes_with_1009(token, settings):
    settings.ADDIN_WS_MAX_FRAME_BYTES = 1000
    communicator = await signed_in(token)
    await communicator.send_json_to({"type": "ping", "padding": "x" * 2000})
    assert await closed_with(communicator) == 1009


async def test_a_flood_closes_with_4029(token, settings):
    settings.ADDIN_WS_RATE_LIMIT = "5/m"
    communicator = await signed_in(token)  # the auth frame was the first of five
    for n in range(10):
        await communicator.send_json_to({"type": "ping", "id": n})
    pongs = []
    while True:
        output = await communicator.receive_output(timeout=TIMEOUT)
        if output["type"] == "websocket.close":
            assert output["code"] == 4029
            break
        pongs.append(json.loads(output["text"]))
    assert [p["id"] for p in pongs] == [0, 1, 2, 3]


# --- Messages ------------------------------------------------------------------------------------


async def test_ping_gets_pong_with_the_same_id(token):
    communicator = await signed_in(token)
    await communicator.send_json_to({"type": "ping", "id": "p1"})
    assert await communicator.receive_json_from(timeout=TIMEOUT) == {"type": "pong", "id": "p1"}
    await communicator.disconnect()


async def test_tools_list_describes_the_tools_the_user_may_call(token):
    communicator = await signed_in(token)
    await communicator.send_json_to({"type": "tools_list", "id": "t"})
    frame = await communicator.receive_json_from(timeout=TIMEOUT)
    assert frame["type"] == "tools" and frame["id"] == "t"
    by_name = {tool["name"]: tool for tool in frame["tools"]}
    assert {"text_statistics", "analyze_document", "test_gate"} <= set(by_name)
    assert by_name["analyze_document"]["mode"] == "background"
    assert "properties" in by_name["text_statistics"]["input_schema"]
    await communicator.disconnect()


async def test_it_runs_an_inline_tool_and_records_the_call_as_ws(user, token):
    communicator = await signed_in(token)
    await communicator.send_json_to(
        {
            "type": "tool_execute",
            "id": "c1",
            "tool": "text_statistics",
            "arguments": {"text": "One two three. Four five."},
        }
    )
    accepted = await communicator.receive_json_from(timeout=TIMEOUT)
    assert accepted["type"] == "execution_accepted" and accepted["id"] == "c1"
    result, _ = await receive_until(communicator, "execution_result")
    assert result["execution_id"] == accepted["execution_id"]
    assert result["status"] == "success" and result["result"]["words"] == 5
    execution = await ToolExecution.objects.aget(pk=accepted["execution_id"])
    session = await Session.objects.aget(user=user)
    assert execution.via == "ws" and execution.session_id == session.pk and execution.user_id == user.pk
    await communicator.receive_nothing(timeout=0.2)  # the result is sent once
    await communicator.disconnect()


async def test_it_runs_analyze_document_with_progress_then_result(token):
    communicator = await signed_in(token)
    text = "\n\n".join(f"Paragraph {n} has a few words in it. " * 30 for n in range(6))
    await communicator.send_json_to(
        {"type": "tool_execute", "id": 7, "tool": "analyze_document",
         "arguments": {"text": text, "section_words": 100, "analyses": ["statistics"]}}
    )
    accepted = await communicator.receive_json_from(timeout=TIMEOUT)
    assert accepted["type"] == "execution_accepted" and accepted["id"] == 7
    result, before = await receive_until(communicator, "execution_result")
    progress = [f for f in before if f["type"] == "execution_progress"]
    assert len(progress) >= 3
    assert [f["progress"] for f in progress] == sorted(f["progress"] for f in progress)
    assert progress[-1]["progress"] == progress[-1]["total"]
    assert result["status"] == "success" and result["result"]["summary"]["sections"] >= 2
    await communicator.disconnect()


async def test_a_rejected_call_gets_an_error_frame_with_the_service_code(token):
    communicator = await signed_in(token)
    await communicator.send_json_to({"type": "tool_execute", "id": "u", "tool": "no_such_tool", "arguments": {}})
    frame = await communicator.receive_json_from(timeout=TIMEOUT)
    assert frame["type"] == "error" and frame["id"] == "u" and frame["code"] == "tool_not_found"
    await communicator.send_json_to({"type": "tool_execute", "id": "v", "tool": "text_statistics", "arguments": {}})
    frame = await communicator.receive_json_from(timeout=TIMEOUT)
    assert frame["code"] == "invalid_arguments" and "text" in frame["message"]
    await assert_still_open(communicator)
    await communicator.disconnect()


async def test_a_running_call_does_not_hold_up_other_frames_and_can_be_cancelled(token):
    communicator = await signed_in(token)
    await communicator.send_json_to({"type": "tool_execute", "id": "g", "tool": "test_gate", "arguments": {}})
    accepted = await communicator.receive_json_from(timeout=TIMEOUT)
    progress = await communicator.receive_json_from(timeout=TIMEOUT)
    assert progress == {"type": "execution_progress", "execution_id": accepted["execution_id"], "progress": 1,
                        "total": 2, "message": "waiting at the gate"}
    await assert_still_open(communicator)
    await communicator.send_json_to({"type": "execution_cancel", "id": "x", "execution_id": accepted["execution_id"]})
    result, _ = await receive_until(communicator, "execution_result")
    assert result["status"] == "cancelled" and result["error"]
    execution = await ToolExecution.objects.aget(pk=accepted["execution_id"])
    assert execution.status == Status.CANCELLED
    await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_cancelling_a_finished_execution_gets_an_error(token):
    communicator = await signed_in(token)
    await communicator.send_json_to(
        {"type": "tool_execute", "id": 1, "tool": "text_statistics", "arguments": {"text": "Done."}}
    )
    result, _ = await receive_until(communicator, "execution_result")
    await communicator.send_json_to({"type": "execution_cancel", "id": 2, "execution_id": result["execution_id"]})
    frame = await communicator.receive_json_from(timeout=TIMEOUT)
    assert frame["type"] == "error" and frame["code"] == "not_running"
    await communicator.disconnect()


async def test_users_may_not_cancel_or_watch_each_others_executions(token):
    other = await User.objects.acreate(username="bob")
    _, other_token = await database_sync_to_async(token_create)(user=other)
    theirs = await signed_in(other_token)
    await theirs.send_json_to({"type": "tool_execute", "id": 1, "tool": "test_gate", "arguments": {}})
    accepted = await theirs.receive_json_from(timeout=TIMEOUT)

    mine = await signed_in(token)
    for kind in ("execution_cancel", "execution_subscribe"):
        await mine.send_json_to({"type": kind, "id": kind, "execution_id": accepted["execution_id"]})
        frame = await mine.receive_json_from(timeout=TIMEOUT)
        assert frame["type"] == "error" and frame["code"] == "not_found"
    execution = await ToolExecution.objects.aget(pk=accepted["execution_id"])
    assert execution.status == Status.RUNNING
    Gate.opened.set()
    result, _ = await receive_until(theirs, "execution_result")
    assert result["status"] == "success"
    await theirs.disconnect()
    await mine.disconnect()


async def test_subscribe_after_a_reconnect_resumes_a_running_execution(token):
    first = await signed_in(token)
    await first.send_json_to({"type": "tool_execute", "id": 1, "tool": "test_gate", "arguments": {}})
    accepted = await first.receive_json_from(timeout=TIMEOUT)
    await first.receive_json_from(timeout=TIMEOUT)  # progress 1/2
    await first.disconnect()

    execution_id = accepted["execution_id"]
    # The row's progress is written by the waiting thread in short steps.
    for _ in range(100):
        execution = await ToolExecution.objects.aget(pk=execution_id)
        if execution.progress == 1:
            break
        await asyncio.sleep(0.05)
    second = await signed_in(token)
    await second.send_json_to({"type": "execution_subscribe", "id": 2, "execution_id": execution_id})
    last = await second.receive_json_from(timeout=TIMEOUT)
    assert last == {"type": "execution_progress", "execution_id": execution_id, "progress": 1, "total": 2,
                    "message": "waiting at the gate"}
    Gate.opened.set()
    result, _ = await receive_until(second, "execution_result")
    assert result["status"] == "success" and result["result"] == {"passed": True}
    await second.disconnect()


async def test_subscribe_replays_the_result_of_an_execution_that_finished_meanwhile(token):
    first = await signed_in(token)
    await first.send_json_to(
        {"type": "tool_execute", "id": 1, "tool": "text_statistics", "arguments": {"text": "A b."}}
    )
    result, _ = await receive_until(first, "execution_result")
    await first.disconnect()

    second = await signed_in(token)
    await second.send_json_to({"type": "execution_subscribe", "id": 2, "execution_id": result["execution_id"]})
    replay = await second.receive_json_from(timeout=TIMEOUT)
    assert replay == result
    await second.disconnect()


async def test_it_tells_the_client_when_the_tools_change(token):
    class Late(Tool):
        name = "test_late_arrival"
        description = "Registered while a client is connected."

    communicator = await signed_in(token)
    try:
        await database_sync_to_async(registry.register)(Late)
        frame = await communicator.receive_json_from(timeout=TIMEOUT)
        assert frame == {"type": "tools_changed"}
    finally:
        registry.unregister(Late.name)
    await communicator.disconnect()


async def test_a_result_too_large_for_a_frame_comes_as_a_link_to_the_rest_api(token, settings, api_client):
    settings.ADDIN_WS_MAX_FRAME_BYTES = 3000
    communicator = await signed_in(token)
    text = "\n\n".join(f"Part {n} says a little. " * 8 for n in range(6))
    await communicator.send_json_to(
        {"type": "tool_execute", "id": 1, "tool": "analyze_document",
         "arguments": {"text": text, "section_words": 50, "analyses": ["statistics"]}}
    )
    result, _ = await receive_until(communicator, "execution_result")
    assert result["status"] == "success" and "result" not in result
    assert result["result_url"] == f"/api/v1/executions/{result['execution_id']}/"
    response = await database_sync_to_async(api_client.get)(result["result_url"])
    assert response.status_code == 200 and response.json()["result"]["summary"]["sections"] >= 2
    await communicator.disconnect()


# --- The socket follows its credential ---------------------------------------------------------


async def _wait_until_ended(execution_id: str) -> ToolExecution:
    for _ in range(200):
        execution = await ToolExecution.objects.aget(pk=execution_id)
        if execution.status not in (Status.PENDING, Status.RUNNING):
            return execution
        await asyncio.sleep(0.05)
    raise AssertionError(f"execution {execution_id} still {execution.status}")


@pytest.mark.parametrize("how", ["token revoked", "user deactivated", "user deleted"])
async def test_an_open_idle_socket_is_closed_when_its_credential_goes_and_its_calls_stop(user, how):
    from accounts.models import APIToken
    from accounts.services import token_create

    row, text = await database_sync_to_async(token_create)(user=user, name="pane")
    communicator = await signed_in(text)
    await communicator.send_json_to({"type": "tool_execute", "id": "g", "tool": "test_gate", "arguments": {}})
    accepted = await communicator.receive_json_from(timeout=TIMEOUT)
    await communicator.receive_json_from(timeout=TIMEOUT)  # progress: the call is running

    if how == "token revoked":
        await APIToken.objects.filter(pk=row.pk).adelete()
        reason = "The token was revoked."
    elif how == "user deactivated":
        user.is_active = False
        await user.asave()
        reason = "The account was deactivated."
    else:
        await ToolExecution.objects.filter(user=user).adelete()
        await user.adelete()
        # Deleting the user deletes its tokens first: either message may come first.
        reason = ("The token was revoked.", "The account was deleted.")

    # No frame from the client: the socket is told, and closes.
    frame, _ = await receive_until(communicator, "error")
    assert frame["code"] == "unauthorized" and frame["message"].startswith(reason)
    assert await closed_with(communicator) == 4001
    if how != "user deleted":
        execution = await _wait_until_ended(accepted["execution_id"])
        assert execution.status == Status.CANCELLED


async def test_a_socket_is_closed_when_its_token_expires(user):
    from datetime import timedelta

    from accounts.services import token_create

    _, text = await database_sync_to_async(token_create)(user=user, name="short", ttl=timedelta(seconds=1))
    communicator = await signed_in(text)
    frame = await communicator.receive_json_from(timeout=TIMEOUT)
    assert frame["type"] == "error" and frame["code"] == "unauthorized" and "expired" in frame["message"]
    assert await closed_with(communicator) == 4001


async def test_revoking_another_token_of_the_same_user_leaves_the_socket_open(user):
    from accounts.models import APIToken
    from accounts.services import token_create

    _, text = await database_sync_to_async(token_create)(user=user, name="pane")
    other, _ = await database_sync_to_async(token_create)(user=user, name="laptop")
    communicator = await signed_in(text)
    await APIToken.objects.filter(pk=other.pk).adelete()
    await communicator.receive_nothing(timeout=0.5)
    await assert_still_open(communicator)
    await communicator.disconnect()


async def test_sockets_that_close_as_their_calls_start_leave_no_execution_in_progress(token):
    """Flood and close: each socket sends a call and is gone at once. Every row ends
    (done, or cancelled because the caller went away); none stays running or pending."""
    for n in range(20):
        communicator = await signed_in(token)
        await communicator.send_json_to(
            {"type": "tool_execute", "id": n, "tool": "text_statistics", "arguments": {"text": f"Call {n}."}}
        )
        await communicator.disconnect()
    for _ in range(200):
        in_progress = await ToolExecution.objects.filter(status__in=[Status.PENDING, Status.RUNNING]).acount()
        if not in_progress:
            break
        await asyncio.sleep(0.05)
    assert in_progress == 0
    assert await ToolExecution.objects.acount() <= 20


async def test_one_token_cannot_open_more_than_its_share_of_sockets(token, settings, user):
    from accounts.services import token_create

    settings.ADDIN_WS_MAX_PER_TOKEN = 2
    first, second = await signed_in(token), await signed_in(token)
    third = await connect()
    await third.send_json_to({"type": "auth", "token": token})
    refused = await third.receive_json_from(timeout=TIMEOUT)
    assert refused["type"] == "error" and refused["code"] == "too_many_connections"
    assert await closed_with(third) == 4030
    # Another token is not held back, and a closed socket frees its place.
    _, other = await database_sync_to_async(token_create)(user=user, name="other")
    await (await signed_in(other)).disconnect()
    await first.disconnect()
    again = await signed_in(token)
    await assert_still_open(again)
    for communicator in (second, again):
        await communicator.disconnect()
