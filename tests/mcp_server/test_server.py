"""The MCP server's behaviour, driven by the official Python SDK's client in-process.

``mcp.Client(server)`` connects to the SDK ``Server`` in memory: the same handlers that
daphne and ``mcp_stdio`` run, without a network in between (the HTTP transport has its
own tests in test_http.py). Each test runs in both protocol eras: the 2025-11-25
initialize handshake ("legacy") and 2026-07-28 (stateless requests).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import anyio
import mcp_types as types
import pytest
from channels.db import database_sync_to_async
from mcp import Client
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel

from accounts.models import User
from executions import services
from executions.models import Session, ToolExecution
from mcp_server.providers import Provider, Providers, ResourceNotFound, load_providers
from mcp_server.server import Caller, HubServer
from tests.crossproc import SharedFlag
from tools.base import Annotations, Role, Tool, ToolContext
from tools.models import Prompt, ToolConfig
from tools.registry import registry

pytestmark = pytest.mark.django_db(transaction=True)

ERAS = ["legacy", "2026-07-28"]


class EchoIn(BaseModel):
    text: str
    times: int = 1


class EchoOut(BaseModel):
    echoed: str


class Echo(Tool):
    name = "test_echo"
    title = "Echo"
    description = "Repeats the text."
    input_model = EchoIn
    output_model = EchoOut
    annotations = Annotations(read_only=True, idempotent=True)

    def run(self, arguments: EchoIn, ctx: ToolContext) -> EchoOut:
        return EchoOut(echoed=arguments.text * arguments.times)


class Steps(Tool):
    name = "test_steps"
    description = "Reports progress and logs at each step."
    input_model = EchoIn

    def run(self, arguments: EchoIn, ctx: ToolContext) -> dict[str, int]:
        for step in range(1, arguments.times + 1):
            ctx.report_progress(step, arguments.times, f"step {step}")
            ctx.log("debug", f"debug {step}")
            ctx.log("warning", f"warning {step}")
        return {"steps": arguments.times}


class Crash(Tool):
    name = "test_crash"
    description = "Raises."

    def run(self, arguments: Any, ctx: ToolContext) -> Any:
        raise RuntimeError("disk on fire")


class Slow(Tool):
    name = "test_slow"
    description = "Runs until cancelled."
    started = SharedFlag("test_slow_started")

    def run(self, arguments: Any, ctx: ToolContext) -> Any:
        Slow.started.set()
        for _ in range(600):
            ctx.raise_if_cancelled()
            time.sleep(0.05)
        return {"done": True}


class Ask(Tool):
    name = "test_ask"
    description = "Asks the client's model a question."

    def run(self, arguments: Any, ctx: ToolContext) -> Any:
        answer = ctx.ask_client("sampling/createMessage", {
            "messages": [{"role": "user", "content": {"type": "text", "text": "capital of France?"}}],
            "maxTokens": 10,
        })
        return {"answer": answer["content"]["text"]}


class AdminOnly(Tool):
    name = "test_admin_only"
    description = "Only for admins."
    required_role = Role.ADMIN

    def run(self, arguments: Any, ctx: ToolContext) -> Any:
        return {}


TEST_TOOLS = [Echo, Steps, Crash, Slow, Ask, AdminOnly]


@pytest.fixture
def test_tools():
    for tool in TEST_TOOLS:
        registry.register(tool, replace=True)
    yield
    for tool in TEST_TOOLS:
        registry.unregister(tool.name)


@pytest.fixture
def alice(transactional_db) -> User:
    return User.objects.create_user(username="alice", password="pw-alice-123")


@pytest.fixture
def hub(alice, test_tools):
    session = services.session_start(user=alice, kind=Session.Kind.MCP, client_info={"transport": "test"})
    server = HubServer(stdio_caller=Caller(alice, session))
    yield server
    server.close()


def connect(hub: HubServer, mode: str, **kwargs: Any) -> Client:
    return Client(hub.server, mode=mode, **kwargs)


def in_other_thread(function: Any) -> Any:
    """Run ``function`` on a pool thread, as the admin or federation would change things,
    closing that thread's database connection afterwards."""
    return database_sync_to_async(function, thread_sensitive=False)


def rows(**filters: Any) -> list[ToolExecution]:
    return list(ToolExecution.objects.filter(**filters).select_related("session").order_by("created"))


# --- tools/list and tools/call -----------------------------------------------------------------


@pytest.mark.parametrize("mode", ERAS)
async def test_tools_list_is_the_registry_as_the_user_may_see_it(hub, mode):
    await database_sync_to_async(ToolConfig.objects.create)(tool_name="calculate", enabled=False)
    async with connect(hub, mode) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}

    assert "test_echo" in listed and "text_statistics" in listed
    assert "calculate" not in listed  # disabled by its config
    assert "test_admin_only" not in listed  # alice is not an admin
    echo = listed["test_echo"]
    assert echo.input_schema == Echo().input_schema
    assert echo.output_schema == Echo().output_schema
    assert echo.annotations.read_only_hint is True and echo.annotations.idempotent_hint is True
    assert echo.description == "Repeats the text."


@pytest.mark.parametrize("mode", ERAS)
async def test_a_call_returns_structured_and_text_content_and_is_recorded_via_mcp(hub, mode, alice):
    async with connect(hub, mode) as client:
        result = await client.call_tool("test_echo", {"text": "ab", "times": 2})

    assert result.is_error is False
    assert result.structured_content == {"echoed": "abab"}
    assert json.loads(result.content[0].text) == {"echoed": "abab"}
    [execution] = await database_sync_to_async(rows)(tool_name="test_echo")
    assert execution.via == "mcp" and execution.status == "success" and execution.user_id == alice.pk
    assert execution.session.kind == Session.Kind.MCP and execution.arguments == {"text": "ab", "times": 2}
    assert result.meta["mcpsite/execution"] == f"execution://{execution.id}"


@pytest.mark.parametrize("mode", ERAS)
async def test_bad_arguments_are_a_readable_tool_error_and_nothing_runs(hub, mode):
    async with connect(hub, mode) as client:
        result = await client.call_tool("test_echo", {"text": 5})
        missing = await client.call_tool("test_echo", {})

    assert result.is_error is True
    assert "text" in result.content[0].text and "string" in result.content[0].text
    assert missing.is_error is True and "text" in missing.content[0].text
    assert await database_sync_to_async(rows)(tool_name="test_echo") == []


@pytest.mark.parametrize("mode", ERAS)
async def test_an_unknown_or_forbidden_tool(hub, mode):
    async with connect(hub, mode) as client:
        with pytest.raises(MCPError) as unknown:
            await client.call_tool("no_such_tool", {})
        with pytest.raises(MCPError) as forbidden:
            await client.call_tool("test_admin_only", {})

    assert unknown.value.error.code == types.INVALID_PARAMS
    assert "no_such_tool" in unknown.value.error.message
    # An admin tool answers a user exactly as an unknown one: its existence does not leak.
    assert forbidden.value.error.code == types.INVALID_PARAMS
    assert forbidden.value.error.message == unknown.value.error.message.replace("no_such_tool", "test_admin_only")


@pytest.mark.parametrize("mode", ERAS)
async def test_a_tool_that_raises_is_a_tool_error_not_a_protocol_error(hub, mode):
    async with connect(hub, mode) as client:
        result = await client.call_tool("test_crash", {})
        after = await client.call_tool("test_echo", {"text": "still here"})

    assert result.is_error is True
    assert "disk on fire" in result.content[0].text
    assert "Traceback" not in result.content[0].text
    assert after.structured_content == {"echoed": "still here"}
    [execution] = await database_sync_to_async(rows)(tool_name="test_crash")
    assert execution.status == "error" and "disk on fire" in execution.error


@pytest.mark.parametrize("mode", ERAS)
async def test_progress_reaches_the_client_that_asked_for_it(hub, mode):
    updates: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        updates.append((progress, total, message))

    async with connect(hub, mode) as client:
        result = await client.call_tool("test_steps", {"text": "x", "times": 3}, progress_callback=on_progress)

    assert result.structured_content is None and json.loads(result.content[0].text) == {"steps": 3}
    assert updates == [(1, 3, "step 1"), (2, 3, "step 2"), (3, 3, "step 3")]


@pytest.mark.filterwarnings("ignore:The logging capability is deprecated")
async def test_logs_reach_a_handshake_client_at_the_level_it_set(hub):
    received: list[types.LoggingMessageNotificationParams] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        received.append(params)

    async with connect(hub, "legacy", logging_callback=on_log) as client:
        await client.call_tool("test_steps", {"text": "x", "times": 2})
        everything = [(m.level, m.data) for m in received]
        received.clear()
        await client.set_logging_level("warning")
        await client.call_tool("test_steps", {"text": "x", "times": 2})

    assert ("warning", "warning 1") in everything and ("debug", "debug 1") not in everything  # default: info
    assert [(m.level, m.data) for m in received] == [("warning", "warning 1"), ("warning", "warning 2")]


async def test_logs_reach_a_2026_client_at_the_level_it_opted_into(hub):
    received: list[types.LoggingMessageNotificationParams] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        received.append(params)

    async with connect(hub, "2026-07-28", logging_callback=on_log, log_level="debug") as client:
        await client.call_tool("test_steps", {"text": "x", "times": 1})

    assert [(m.level, m.data) for m in received] == [("debug", "debug 1"), ("warning", "warning 1")]


async def test_a_client_that_gives_up_cancels_the_execution(hub):
    # Handshake era: the client sends notifications/cancelled. (On 2026-07-28 a call is
    # cancelled by closing its HTTP request: see test_http.py.)
    Slow.started.clear()
    async with connect(hub, "legacy") as client:
        with pytest.raises(MCPError) as timed_out:
            await client.call_tool("test_slow", {}, read_timeout_seconds=1.0)
        assert Slow.started.is_set()
        # The client sent notifications/cancelled; the execution ends as cancelled.
        for _ in range(100):
            executions = await database_sync_to_async(rows)(tool_name="test_slow")
            if executions and executions[0].status != "running":
                break
            await asyncio.sleep(0.1)

    assert timed_out.value.error.code == types.REQUEST_TIMEOUT
    assert [e.status for e in executions] == ["cancelled"]


async def test_a_tool_may_ask_a_handshake_client_for_a_sampling(hub):
    async def sampling(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        assert params.messages[0].content.text == "capital of France?"
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="Paris"), model="test-model",
        )

    async with connect(hub, "legacy", sampling_callback=sampling) as client:
        answered = await client.call_tool("test_ask", {})
    async with connect(hub, "legacy") as client:
        refused = await client.call_tool("test_ask", {})

    assert answered.is_error is False and json.loads(answered.content[0].text) == {"answer": "Paris"}
    assert refused.is_error is True and "sampling" in refused.content[0].text


async def test_a_tool_asks_a_2026_client_through_input_requests_on_one_execution(hub):
    async def sampling(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="Paris"), model="test-model",
        )

    async with connect(hub, "2026-07-28", sampling_callback=sampling) as client:
        answered = await client.call_tool("test_ask", {})
    async with connect(hub, "2026-07-28") as client:
        with pytest.raises(MCPError) as refused:
            await client.call_tool("test_ask", {})
    executions = await database_sync_to_async(lambda: list(ToolExecution.objects.filter(tool_name="test_ask")))()

    assert answered.is_error is False and json.loads(answered.content[0].text) == {"answer": "Paris"}
    # The question ended the first run as input_required; the answer resumed the same row.
    assert answered.meta["mcpsite/execution"] in {f"execution://{e.id}" for e in executions}
    assert refused.value.error.code == types.MISSING_REQUIRED_CLIENT_CAPABILITY
    assert refused.value.error.data == {"requiredCapabilities": {"sampling": {}}}
    assert sorted(e.status for e in executions) == ["error", "success"]
    assert next(e.input_responses for e in executions if e.status == "success")  # the answer, kept on the row


# --- list_changed --------------------------------------------------------------------------------


async def test_a_handshake_client_hears_that_the_tool_list_changed(hub):
    heard = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            heard.set()

    async with connect(hub, "legacy", message_handler=on_message) as client:
        await client.list_tools()
        # From another thread, as the admin or federation would change it.
        await in_other_thread(ToolConfig.objects.create)(tool_name="test_echo", enabled=False)
        with anyio.fail_after(10):
            await heard.wait()
        listed = {t.name for t in (await client.list_tools()).tools}

    assert "test_echo" not in listed


async def test_a_2026_client_listening_hears_that_the_tool_list_changed(hub):
    async with connect(hub, "2026-07-28") as client:
        async with client.listen(tools_list_changed=True) as subscription:
            await in_other_thread(registry.register)(type("Late", (Echo,), {"name": "test_late"}))
            with anyio.fail_after(10):
                event = await subscription.__anext__()
        listed = {t.name for t in (await client.list_tools()).tools}
    registry.unregister("test_late")

    assert type(event).__name__ == "ToolsListChanged"
    assert "test_late" in listed


async def test_capabilities_advertise_list_changed_in_both_eras(hub):
    async with connect(hub, "legacy") as client:
        legacy = client.server_capabilities
    async with connect(hub, "auto") as client:  # server/discover, as over HTTP
        modern = client.server_capabilities
        version = client.protocol_version

    assert version == "2026-07-28"
    assert legacy.tools.list_changed is True and legacy.prompts.list_changed is True
    assert modern.tools.list_changed is True


# --- prompts ---------------------------------------------------------------------------------------


@pytest.fixture
def prompts(transactional_db):
    # The default prompts come from a data migration, which transactional tests flush
    # (or not yet, for the first test of a run): start from none either way.
    Prompt.objects.all().delete()
    Prompt.objects.create(
        name="rewrite_tone", title="Rewrite", description="Rewrite in a tone.",
        arguments=[
            {"name": "text", "description": "The selection", "required": True},
            {"name": "tone", "description": "The tone", "required": True, "choices": ["formal", "friendly", "fun"]},
        ],
        template="Rewrite in a {tone} tone, keeping {{braces}}:\n{text}",
    )
    Prompt.objects.create(name="hidden", template="no", enabled=False)


@pytest.mark.parametrize("mode", ERAS)
async def test_prompts_are_listed_and_filled_in(hub, prompts, mode):
    async with connect(hub, mode) as client:
        listed = {p.name: p for p in (await client.list_prompts()).prompts}
        got = await client.get_prompt("rewrite_tone", {"text": "hi there", "tone": "formal"})
        with pytest.raises(MCPError) as missing:
            await client.get_prompt("rewrite_tone", {"text": "hi there"})
        with pytest.raises(MCPError) as disabled:
            await client.get_prompt("hidden", {})

    assert set(listed) == {"rewrite_tone"}
    assert [(a.name, a.required) for a in listed["rewrite_tone"].arguments] == [("text", True), ("tone", True)]
    assert got.messages[0].role == "user"
    assert got.messages[0].content.text == "Rewrite in a formal tone, keeping {braces}:\nhi there"
    assert missing.value.error.code == types.INVALID_PARAMS and "tone" in missing.value.error.message
    assert disabled.value.error.code == types.INVALID_PARAMS


@pytest.mark.parametrize("mode", ERAS)
async def test_prompt_arguments_complete_from_their_choices(hub, prompts, mode):
    async with connect(hub, mode) as client:
        completed = await client.complete(
            types.PromptReference(type="ref/prompt", name="rewrite_tone"), {"name": "tone", "value": "f"}
        )

    assert completed.completion.values == ["formal", "friendly", "fun"]


async def test_the_default_prompts_fill_in(hub, alice):
    from django.core.management import call_command

    # Re-run the data migration the flush emptied.
    await database_sync_to_async(call_command)("migrate", "tools", "0002", verbosity=0)
    await database_sync_to_async(call_command)("migrate", "tools", verbosity=0)
    async with connect(hub, "legacy") as client:
        names = {p.name for p in (await client.list_prompts()).prompts}
        proofread = await client.get_prompt("proofread", {"text": "Teh cat."})

    assert {"proofread", "summarize_selection", "rewrite_tone", "translate_selection"} <= names
    assert "Teh cat." in proofread.messages[0].content.text and "spell_check" in proofread.messages[0].content.text


# --- resources -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ERAS)
async def test_a_user_reads_their_own_executions_and_no_one_elses(hub, alice, mode):
    bob = await database_sync_to_async(User.objects.create_user)(username="bob", password="pw-bob-12345")
    bobs = await database_sync_to_async(services.execute_tool)(
        user=bob, tool_name="test_echo", arguments={"text": "secret"}, via="api"
    )
    async with connect(hub, mode) as client:
        result = await client.call_tool("test_echo", {"text": "mine"})
        uri = result.meta["mcpsite/execution"]
        listed = [str(r.uri) for r in (await client.list_resources()).resources]
        templates = [t.uri_template for t in (await client.list_resource_templates()).resource_templates]
        read = await client.read_resource(uri)
        with pytest.raises(MCPError) as other:
            await client.read_resource(f"execution://{bobs.id}")
        with pytest.raises(MCPError) as garbage:
            await client.read_resource("execution://not-a-uuid")

    assert listed == [uri]
    assert "execution://{id}" in templates
    document = json.loads(read.contents[0].text)
    assert document["tool"] == "test_echo" and document["result"] == {"echoed": "mine"} and document["via"] == "mcp"
    # 2026-07-28 answers a missing resource with -32602 (SEP-2164); 2025-11-25 with -32002.
    not_found = -32602 if mode == "2026-07-28" else -32002
    assert other.value.error.code == not_found and "secret" not in other.value.error.message
    assert garbage.value.error.code == not_found


@pytest.mark.parametrize("mode", ERAS)
async def test_a_background_tool_answers_with_its_result_on_the_embedded_defaults(hub, mode):
    # Eager Celery (no broker): the task runs within the call; progress still reaches the client.
    progress: list[float] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(done)

    text = "\n\n".join(f"Section {i} of a document about tools. It is short." for i in range(10))
    async with connect(hub, mode) as client:
        result = await client.call_tool("analyze_document", {"text": text}, progress_callback=on_progress)

    assert result.is_error is False and result.structured_content["sections"]
    assert progress
    [execution] = await database_sync_to_async(rows)(tool_name="analyze_document")
    assert execution.mode == "background" and execution.status == "success"


async def test_a_handshake_client_subscribed_to_a_running_execution_hears_when_it_ends(hub, alice):
    import warnings

    updated = anyio.Event()
    uris: list[str] = []

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            uris.append(str(message.params.uri))
            updated.set()

    running = await database_sync_to_async(ToolExecution.objects.create)(
        tool_name="test_echo", user=alice, via="api", status="running", mode="inline"
    )
    bob = await database_sync_to_async(User.objects.create_user)(username="bob", password="pw-bob-12345")
    bobs = await database_sync_to_async(ToolExecution.objects.create)(
        tool_name="test_echo", user=bob, via="api", status="running", mode="inline"
    )
    uri = f"execution://{running.id}"
    async with connect(hub, "legacy", message_handler=on_message) as client:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # resources/subscribe is deprecated in 2026-07-28
            await client.subscribe_resource(uri)
            with pytest.raises(MCPError) as other:
                await client.subscribe_resource(f"execution://{bobs.id}")
        await in_other_thread(services.execution_finish)(
            execution_id=str(running.id), status="error", error="stopped by the test"
        )
        with anyio.fail_after(10):
            await updated.wait()
        document = json.loads((await client.read_resource(uri)).contents[0].text)

    assert uris == [uri]
    assert other.value.error.code == -32002
    assert document["status"] == "error" and document["error"] == "stopped by the test"


async def test_saving_a_prompt_tells_handshake_clients_the_prompt_list_changed(hub, prompts):
    heard = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, types.PromptListChangedNotification):
            heard.set()

    async with connect(hub, "legacy", message_handler=on_message) as client:
        await client.list_prompts()
        await database_sync_to_async(Prompt.objects.filter(name="hidden").update)(enabled=True)  # no signal: no news
        prompt = await database_sync_to_async(Prompt.objects.get)(name="hidden")
        await in_other_thread(prompt.save)()  # as the admin saves it
        with anyio.fail_after(10):
            await heard.wait()
        names = {p.name for p in (await client.list_prompts()).prompts}

    assert names == {"rewrite_tone", "hidden"}


# --- providers ---------------------------------------------------------------------------------------


class Notes(Provider):
    """An extra provider: one prompt and notes://{name} resources; notes://secret is
    someone else's, notes://draft changes when the test says so."""

    name = "notes"

    def __init__(self) -> None:
        super().__init__()
        self.draft_changed = asyncio.Event()

    async def list_prompts(self, caller: Caller) -> list[dict[str, Any]]:
        return [{"name": "outline", "description": "Outline a topic.", "arguments": [{"name": "topic"}]}]

    async def get_prompt(self, name, arguments, caller, ask):
        if name != "outline":
            return None
        return {"messages": [{"role": "user", "content": {"type": "text", "text": f"Outline {arguments['topic']}"}}]}

    async def complete(self, prompt: str, argument: str) -> list[str] | None:
        return ["history", "hydrology", "art"] if prompt == "outline" else None

    async def list_resources(self, caller: Caller) -> list[dict[str, Any]]:
        return [{"uri": "notes://draft", "name": "draft", "mimeType": "text/plain"}]

    async def read_resource(self, uri, caller):
        if uri == "notes://secret":
            raise ResourceNotFound(uri)
        if uri == "notes://draft":
            return [{"uri": uri, "mimeType": "text/plain", "text": f"{caller.user.username}'s draft"}]
        return None

    async def watch_resource(self, uri, caller):
        if uri == "notes://secret":
            raise ResourceNotFound(uri)
        return self.draft_changed.wait() if uri == "notes://draft" else None


@pytest.fixture
def notes_hub(alice, test_tools):
    from mcp_server.builtin import ExecutionResources, HubPrompts

    notes = Notes()
    session = services.session_start(user=alice, kind=Session.Kind.MCP, client_info={"transport": "test"})
    providers = Providers([HubPrompts(), ExecutionResources(), notes])
    server = HubServer(stdio_caller=Caller(alice, session), providers=providers)
    yield server, notes
    server.close()


@pytest.mark.parametrize("mode", ERAS)
async def test_prompts_and_resources_come_from_every_provider_in_order(notes_hub, prompts, mode):
    hub, _ = notes_hub
    async with connect(hub, mode) as client:
        listed = [p.name for p in (await client.list_prompts()).prompts]
        outline = await client.get_prompt("outline", {"topic": "rivers"})
        completed = await client.complete(
            types.PromptReference(type="ref/prompt", name="outline"), {"name": "topic", "value": "h"}
        )
        own = await client.get_prompt("rewrite_tone", {"text": "hi", "tone": "fun"})
        with pytest.raises(MCPError) as unknown:
            await client.get_prompt("nobody_has_this", {})
        resources = [str(r.uri) for r in (await client.list_resources()).resources]
        draft = await client.read_resource("notes://draft")
        with pytest.raises(MCPError) as secret:
            await client.read_resource("notes://secret")
        with pytest.raises(MCPError) as nobody:
            await client.read_resource("other://thing")

    assert listed == ["rewrite_tone", "outline"]  # the built-in rows first, then the extra provider's
    assert outline.messages[0].content.text == "Outline rivers"
    assert completed.completion.values == ["history", "hydrology"]
    assert "fun tone" in own.messages[0].content.text
    assert unknown.value.error.code == types.INVALID_PARAMS and "nobody_has_this" in unknown.value.error.message
    assert resources == ["notes://draft"]  # alice has no executions yet
    assert draft.contents[0].text == "alice's draft"
    assert "Resource not found: notes://secret" in secret.value.error.message
    assert "Resource not found: other://thing" in nobody.value.error.message


async def test_a_providers_change_and_its_resource_updates_reach_a_handshake_client(notes_hub):
    import warnings

    hub, notes = notes_hub
    prompts_changed, updated = anyio.Event(), anyio.Event()
    uris: list[str] = []

    async def on_message(message: Any) -> None:
        if isinstance(message, types.PromptListChangedNotification):
            prompts_changed.set()
        if isinstance(message, types.ResourceUpdatedNotification):
            uris.append(str(message.params.uri))
            updated.set()

    async with connect(hub, "legacy", message_handler=on_message) as client:
        await client.list_prompts()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # resources/subscribe is deprecated in 2026-07-28
            await client.subscribe_resource("notes://draft")
            with pytest.raises(MCPError) as secret:
                await client.subscribe_resource("notes://secret")
        await in_other_thread(notes.changed)("prompts")  # from another thread, as a signal would
        notes.draft_changed.set()
        with anyio.fail_after(10):
            await prompts_changed.wait()
            await updated.wait()

    assert uris == ["notes://draft"]
    assert secret.value.error.code == -32002


def test_a_provider_path_that_is_not_a_provider_is_refused_clearly():
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match=r"cannot import 'tests\.nowhere\.provider'"):
        load_providers(["tests.nowhere.provider"])
    with pytest.raises(ImproperlyConfigured, match=r"is not a mcp_server\.providers\.Provider"):
        load_providers(["tests.mcp_server.test_server.Echo"])
    loaded = load_providers(["tests.mcp_server.test_server.Notes", "tests.mcp_server.conformance_fixtures.provider"])
    assert [p.name for p in loaded] == ["notes", "conformance"]


# --- tracing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("setting", "kept"), [(None, False), (True, True), (False, False)])
def test_the_sdks_request_spans_are_kept_only_when_wanted(alice, settings, setting, kept):
    from mcp.server._otel import OpenTelemetryMiddleware

    settings.MCP_TRACE_SPANS = setting  # None: auto, and this process installs no tracer provider
    session = services.session_start(user=alice, kind=Session.Kind.MCP, client_info={"transport": "test"})
    server = HubServer(stdio_caller=Caller(alice, session))
    try:
        spans = [m for m in server.server.middleware if isinstance(m, OpenTelemetryMiddleware)]
    finally:
        server.close()
    assert bool(spans) is kept
    assert server._track_connection in server.server.middleware  # the hub's own middleware stays
