"""A remote server's elicitation during a call made from the task pane reaches the pane as
a form, and the pane's answer goes back to the remote; what the pane cannot answer is
refused to the remote with a clear error."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from tests.federation.conftest import add_stdio
from tests.realtime.test_addin_consumer import TIMEOUT, receive_until, signed_in

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


async def ask_remote(communicator, kind: str) -> None:
    await communicator.send_json_to({"type": "tool_execute", "id": "r", "tool": "py__ask", "arguments": {"kind": kind}})


# stdio: the remote speaks 2026-07-28 and asks with an input-required result;
# stdio-legacy: a 2025-11-25 remote sends elicitation/create during the call.
@pytest.mark.parametrize("remote_mode", ["stdio", "stdio-legacy"])
async def test_a_remote_tool_that_elicits_asks_the_pane_and_gets_its_answer(token, remote_mode):
    await database_sync_to_async(add_stdio)("py", mode=remote_mode)
    communicator = await signed_in(token)

    await ask_remote(communicator, "elicitation")
    question, before = await receive_until(communicator, "elicitation")
    [accepted] = [frame for frame in before if frame["type"] == "execution_accepted"]
    assert question["execution_id"] == accepted["execution_id"]
    assert question["message"] == "Your name?"
    assert question["requested_schema"]["properties"] == {"name": {"type": "string"}}

    await communicator.send_json_to({"type": "elicitation_answer", "question_id": question["question_id"],
                                     "action": "accept", "content": {"name": "Ada"}})
    result, _ = await receive_until(communicator, "execution_result")

    assert result["status"] == "success", result
    # The remote reports what it got back: the pane's answer.
    answer = result["result"]["answer"]
    assert "Ada" in answer and "accept" in answer
    await communicator.disconnect()


async def test_a_remote_hears_when_the_pane_declines(token):
    await database_sync_to_async(add_stdio)("py", mode="stdio-legacy")
    communicator = await signed_in(token)

    await ask_remote(communicator, "elicitation")
    question, _ = await receive_until(communicator, "elicitation")
    await communicator.send_json_to({"type": "elicitation_answer", "question_id": question["question_id"],
                                     "action": "decline"})
    result, _ = await receive_until(communicator, "execution_result")

    assert result["status"] == "success", result
    answer = result["result"]["answer"]
    assert "decline" in answer and "Ada" not in answer
    await communicator.disconnect()


async def test_a_bad_answer_is_refused_to_the_pane_not_sent_to_the_remote(token):
    await database_sync_to_async(add_stdio)("py", mode="stdio-legacy")
    communicator = await signed_in(token)

    await ask_remote(communicator, "elicitation")
    question, _ = await receive_until(communicator, "elicitation")
    await communicator.send_json_to({"type": "elicitation_answer", "id": "bad", "question_id": question["question_id"],
                                     "action": "accept", "content": {"name": 7}})
    error = await communicator.receive_json_from(timeout=TIMEOUT)
    assert (error["type"], error["id"], error["code"]) == ("error", "bad", "invalid_answer")
    assert "name: 7 is not of type 'string'" in error["message"]

    await communicator.send_json_to({"type": "elicitation_answer", "question_id": question["question_id"],
                                     "action": "accept", "content": {"name": "Grace"}})
    result, _ = await receive_until(communicator, "execution_result")
    assert "Grace" in result["result"]["answer"]
    await communicator.disconnect()


@pytest.mark.parametrize(("kind", "method"), [("sampling", "sampling/createMessage"), ("roots", "roots/list")])
async def test_a_remotes_sampling_or_roots_request_is_refused_clearly(token, kind, method):
    await database_sync_to_async(add_stdio)("py", mode="stdio-legacy")
    communicator = await signed_in(token)

    await ask_remote(communicator, kind)
    result, before = await receive_until(communicator, "execution_result")

    assert not [frame for frame in before if frame["type"] == "elicitation"]
    # The remote got the hub's refusal as a JSON-RPC error in the middle of its call, and said so.
    assert result["status"] == "success", result
    assert result["result"] == {
        "error": f"The task pane answers only form elicitation (elicitation/create), not {method}."
    }
    await communicator.disconnect()
