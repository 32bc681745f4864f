"""A call made through the task pane asks the person at the pane (form elicitation): the
question goes out as an ``elicitation`` frame and the ``elicitation_answer`` frame comes
back to the tool, checked against the requested schema. Other requests are refused."""

from __future__ import annotations

import asyncio

import pytest
from channels.testing import WebsocketCommunicator

from executions.models import ToolExecution
from tests.realtime.test_addin_consumer import TIMEOUT, assert_still_open, receive_until, signed_in
from tools.base import Tool, ToolContext
from tools.registry import registry

pytestmark = pytest.mark.django_db(transaction=True)
Status = ToolExecution.Status

FORM = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "title": "Name"},
        "age": {"type": "integer", "minimum": 0},
        "subscribe": {"type": "boolean", "default": False},
        "colour": {"type": "string", "enum": ["red", "green"]},
    },
    "required": ["name", "age"],
}
QUESTIONS = {
    "form": ("elicitation/create", {"message": "Who are you?", "requestedSchema": FORM}),
    "url": ("elicitation/create", {"mode": "url", "message": "Sign in there", "url": "https://example.com/",
                                   "elicitationId": "e1"}),
    "sampling": ("sampling/createMessage", {"messages": [{"role": "user", "content": {"type": "text", "text": "hi"}}],
                                            "maxTokens": 5}),
    "roots": ("roots/list", {}),
    "nested": ("elicitation/create", {"message": "Where?", "requestedSchema": {
        "type": "object", "properties": {"address": {"type": "object"}}}}),
}


class AskForm(Tool):
    """Asks its client one of QUESTIONS and returns the answer."""

    name = "test_ask_form"
    description = "Asks the client."
    raw_input_schema = {"type": "object", "properties": {"kind": {"type": "string"}}}

    def run(self, arguments: dict, ctx: ToolContext) -> dict:
        method, params = QUESTIONS[arguments.get("kind", "form")]
        return {"answer": ctx.ask_client(method, params), "can_elicit": ctx.client_can("elicitation"),
                "can_sample": ctx.client_can("sampling")}


@pytest.fixture(autouse=True)
def ask_tool():
    registry.register(AskForm, replace=True)
    yield
    registry.unregister(AskForm.name)


async def asked(communicator: WebsocketCommunicator, kind: str = "form") -> tuple[dict, dict]:
    """Start the tool; return its execution_accepted and elicitation frames."""
    await communicator.send_json_to(
        {"type": "tool_execute", "id": "r", "tool": AskForm.name, "arguments": {"kind": kind}}
    )
    question, before = await receive_until(communicator, "elicitation")
    [accepted] = [frame for frame in before if frame["type"] == "execution_accepted"]
    return accepted, question


async def test_the_pane_gets_the_question_and_its_answer_reaches_the_tool(token):
    communicator = await signed_in(token)
    accepted, question = await asked(communicator)

    assert question["execution_id"] == accepted["execution_id"]
    assert question["message"] == "Who are you?" and question["requested_schema"] == FORM
    await communicator.send_json_to({
        "type": "elicitation_answer", "id": "a", "question_id": question["question_id"], "action": "accept",
        "content": {"name": "Ada", "age": 36, "subscribe": True, "colour": "green"},
    })
    closed = await communicator.receive_json_from(timeout=TIMEOUT)
    result, _ = await receive_until(communicator, "execution_result")

    assert closed == {"type": "elicitation_closed", "id": "a", "execution_id": accepted["execution_id"],
                      "question_id": question["question_id"], "reason": "answered"}
    assert result["status"] == "success", result
    assert result["result"] == {
        "answer": {"action": "accept", "content": {"name": "Ada", "age": 36, "subscribe": True, "colour": "green"}},
        "can_elicit": True, "can_sample": False,
    }
    await communicator.disconnect()


@pytest.mark.parametrize("action", ["decline", "cancel"])
async def test_a_declined_or_cancelled_form_is_what_the_tool_hears(token, action):
    communicator = await signed_in(token)
    _, question = await asked(communicator)

    # Content is only for accept: what came with a decline is not passed on.
    await communicator.send_json_to({"type": "elicitation_answer", "question_id": question["question_id"],
                                     "action": action, "content": {"name": "x"}})
    result, _ = await receive_until(communicator, "execution_result")

    assert result["status"] == "success" and result["result"]["answer"] == {"action": action}
    await communicator.disconnect()


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ({"name": "Ada"}, ["'age' is a required property"]),
        ({"name": "Ada", "age": "thirty"}, ["age:", "not of type 'integer'"]),
        ({"name": "Ada", "age": -1}, ["age:", "minimum of 0"]),
        ({"name": "Ada", "age": 3, "subscribe": "yes"}, ["subscribe:", "not of type 'boolean'"]),
        ({"name": "Ada", "age": 3, "colour": "blue"}, ["colour:", "'blue' is not one of ['red', 'green']"]),
        ({"name": "Ada", "age": 3, "shoe": 42}, ["did not ask for 'shoe'"]),
        ([1, 2], ["content must be a JSON object"]),
    ],
)
async def test_an_answer_that_breaks_the_schema_gets_an_error_and_the_question_stays_open(token, content, words):
    communicator = await signed_in(token)
    _, question = await asked(communicator)

    await communicator.send_json_to({"type": "elicitation_answer", "id": "bad", "question_id": question["question_id"],
                                     "action": "accept", "content": content})
    error = await communicator.receive_json_from(timeout=TIMEOUT)

    assert error["type"] == "error" and error["id"] == "bad" and error["code"] == "invalid_answer"
    assert all(word in error["message"] for word in words), error["message"]
    # The form is still open: a good answer goes through.
    await communicator.send_json_to({"type": "elicitation_answer", "question_id": question["question_id"],
                                     "action": "accept", "content": {"name": "Ada", "age": 3}})
    result, _ = await receive_until(communicator, "execution_result")
    assert result["result"]["answer"] == {"action": "accept", "content": {"name": "Ada", "age": 3}}
    await communicator.disconnect()


async def test_bad_answer_frames_get_error_frames_and_the_socket_stays_open(token):
    communicator = await signed_in(token)
    _, question = await asked(communicator)
    frames = [
        ({"type": "elicitation_answer", "id": 1, "action": "accept"}, "missing_field"),
        ({"type": "elicitation_answer", "id": 2, "question_id": "not-a-question", "action": "accept"}, "not_found"),
        ({"type": "elicitation_answer", "id": 3, "question_id": question["question_id"], "action": "maybe"},
         "invalid_field"),
    ]

    for frame, code in frames:
        await communicator.send_json_to(frame)
        error = await communicator.receive_json_from(timeout=TIMEOUT)
        assert (error["type"], error["id"], error["code"]) == ("error", frame["id"], code), error
        assert error["message"]

    await assert_still_open(communicator)
    await communicator.send_json_to({"type": "elicitation_answer", "question_id": question["question_id"],
                                     "action": "decline"})
    await receive_until(communicator, "execution_result")
    # Answered once: a second answer finds no open question.
    await communicator.send_json_to({"type": "elicitation_answer", "id": 4, "question_id": question["question_id"],
                                     "action": "decline"})
    error = await communicator.receive_json_from(timeout=TIMEOUT)
    assert error["code"] == "not_found"
    await communicator.disconnect()


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("sampling", "The task pane answers only form elicitation (elicitation/create), not sampling/createMessage."),
        ("roots", "The task pane answers only form elicitation (elicitation/create), not roots/list."),
        ("url", "The task pane answers only form elicitation, not 'url' mode."),
        ("nested", "The task pane's form cannot show the field 'address': it takes string, number, integer and "
                   "boolean fields."),
    ],
)
async def test_what_the_pane_cannot_answer_is_refused_with_a_clear_error(token, kind, message):
    communicator = await signed_in(token)
    await communicator.send_json_to(
        {"type": "tool_execute", "id": "r", "tool": AskForm.name, "arguments": {"kind": kind}}
    )

    result, before = await receive_until(communicator, "execution_result")

    assert not [frame for frame in before if frame["type"] == "elicitation"]
    assert result["status"] == "error" and result["error"] == message
    await communicator.disconnect()


async def test_cancelling_the_call_takes_its_question_away(token):
    communicator = await signed_in(token)
    accepted, question = await asked(communicator)

    await communicator.send_json_to({"type": "execution_cancel", "id": "x", "execution_id": accepted["execution_id"]})
    closed, _ = await receive_until(communicator, "elicitation_closed")
    result, _ = await receive_until(communicator, "execution_result")

    assert (closed["question_id"], closed["reason"]) == (question["question_id"], "ended")
    assert result["status"] == "cancelled"
    await communicator.send_json_to({"type": "elicitation_answer", "id": "late", "question_id": question["question_id"],
                                     "action": "decline"})
    assert (await communicator.receive_json_from(timeout=TIMEOUT))["code"] == "not_found"
    await communicator.disconnect()


async def test_a_question_open_when_the_socket_closes_is_answered_cancel(token):
    communicator = await signed_in(token)
    accepted, _ = await asked(communicator)

    # The call goes on without the pane (a reconnect resumes it); nobody is left to answer.
    await communicator.disconnect()

    execution = await ToolExecution.objects.aget(pk=accepted["execution_id"])
    for _ in range(200):
        if execution.is_final:
            break
        await asyncio.sleep(0.05)
        await execution.arefresh_from_db()
    assert execution.status == Status.SUCCESS, execution.error
    assert execution.result["answer"] == {"action": "cancel"}
