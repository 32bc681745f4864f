"""The tools, prompts and resources the official MCP conformance suite expects.

A test-only MCP provider (``mcp_server.providers.Provider``), loaded by a hub
started with ``MCP_EXTRA_PROVIDERS=tests.mcp_server.conformance_fixtures.provider``: the
tools go into the same registry and run through the same execution service as every
other tool (so the suite tests the real path: validation, the ``ToolExecution`` row,
progress, logs, questions to the client); the prompts and resources are served next to
the hub's own. Their names and contents are what the suite's scenarios ask for.
"""

from __future__ import annotations

import base64
import io
import json
import struct
import time
import wave
from dataclasses import dataclass, field
from typing import Any, ClassVar

from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS

from mcp_server.caller import Caller
from mcp_server.providers import Provider
from tools.base import Annotations, ClientInput, Tool, ToolContext, ToolError

# A 1x1 red PNG.
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="


def _wav() -> str:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(struct.pack("<8h", *([0, 1000] * 4)))
    return base64.b64encode(buffer.getvalue()).decode()


WAV = _wav()
NO_ARGUMENTS = {"type": "object", "properties": {}}


class ContentTool(Tool):
    """A fixture whose result is MCP content: ``{"content": [blocks]}``."""

    annotations = Annotations(read_only=True, idempotent=True)
    raw_input_schema: ClassVar[dict[str, Any]] = NO_ARGUMENTS  # type: ignore[misc]
    blocks: ClassVar[list[dict[str, Any]]] = []

    def mcp_content(self, result: Any) -> list[dict[str, Any]]:
        return list(result["content"])

    def run(self, arguments: Any, ctx: ToolContext) -> Any:
        return {"content": self.blocks}


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


class SimpleText(ContentTool):
    name = "test_simple_text"
    description = "Returns a simple text (conformance fixture)."
    blocks = [_text("This is a simple text response for testing.")]


class ImageContent(ContentTool):
    name = "test_image_content"
    description = "Returns a 1x1 PNG image (conformance fixture)."
    blocks = [{"type": "image", "data": PNG, "mimeType": "image/png"}]


class AudioContent(ContentTool):
    name = "test_audio_content"
    description = "Returns a short WAV sound (conformance fixture)."
    blocks = [{"type": "audio", "data": WAV, "mimeType": "audio/wav"}]


class EmbeddedResource(ContentTool):
    name = "test_embedded_resource"
    description = "Returns an embedded text resource (conformance fixture)."
    blocks = [{
        "type": "resource",
        "resource": {
            "uri": "test://embedded-resource", "mimeType": "text/plain",
            "text": "This is an embedded resource content.",
        },
    }]


class MultipleContentTypes(ContentTool):
    name = "test_multiple_content_types"
    description = "Returns text, an image and a resource (conformance fixture)."
    blocks = [
        _text("Multiple content types test:"),
        {"type": "image", "data": PNG, "mimeType": "image/png"},
        {
            "type": "resource",
            "resource": {
                "uri": "test://mixed-content-resource", "mimeType": "application/json",
                "text": json.dumps({"test": "data", "value": 123}),
            },
        },
    ]


class WithLogging(ContentTool):
    name = "test_tool_with_logging"
    description = "Sends three info log messages while it runs (conformance fixture)."

    def run(self, arguments: Any, ctx: ToolContext) -> Any:
        ctx.log("info", "Tool execution started")
        time.sleep(0.05)
        ctx.log("info", "Tool processing data")
        time.sleep(0.05)
        ctx.log("info", "Tool execution completed")
        return {"content": [_text("Tool with logging executed successfully")]}


class WithProgress(ContentTool):
    name = "test_tool_with_progress"
    description = "Reports progress 0, 50 and 100 of 100 (conformance fixture)."

    def run(self, arguments: Any, ctx: ToolContext) -> Any:
        ctx.report_progress(0, 100)
        time.sleep(0.05)
        ctx.report_progress(50, 100)
        time.sleep(0.05)
        ctx.report_progress(100, 100)
        return {"content": [_text("Tool with progress executed successfully")]}


class ErrorHandling(ContentTool):
    name = "test_error_handling"
    description = "Always fails (conformance fixture)."

    def run(self, arguments: Any, ctx: ToolContext) -> Any:
        raise ToolError("This tool intentionally returns an error for testing")


class Sampling(ContentTool):
    name = "test_sampling"
    description = "Asks the client's LLM to complete a prompt (conformance fixture)."
    raw_input_schema = {
        "type": "object",
        "properties": {"prompt": {"type": "string", "description": "The prompt to send to the LLM"}},
        "required": ["prompt"],
    }

    def run(self, arguments: Any, ctx: ToolContext) -> Any:
        result = ctx.ask_client("sampling/createMessage", {
            "messages": [{"role": "user", "content": _text(arguments["prompt"])}],
            "maxTokens": 100,
        })
        content = result.get("content")
        blocks = content if isinstance(content, list) else [content]
        text = " ".join(b.get("text", "") for b in blocks if isinstance(b, dict) and b.get("type") == "text")
        return {"content": [_text(f"LLM response: {text}")]}


def _elicited(
    ctx: ToolContext, message: str, properties: dict[str, Any], *, required: list[str] | None = None,
    answer: str = "Elicitation completed",
) -> dict[str, Any]:
    result = ctx.ask_client("elicitation/create", {
        "message": message,
        "requestedSchema": {"type": "object", "properties": properties, "required": required or []},
    })
    return {"content": [_text(f"{answer}: action={result.get('action')}, content={json.dumps(result.get('content'))}")]}


class Elicitation(ContentTool):
    name = "test_elicitation"
    description = "Asks the user for a username and an email (conformance fixture)."
    raw_input_schema = {
        "type": "object",
        "properties": {"message": {"type": "string", "description": "The message to show the user"}},
        "required": ["message"],
    }

    def run(self, arguments: Any, ctx: ToolContext) -> Any:
        return _elicited(ctx, arguments["message"], {
            "username": {"type": "string", "description": "User's response"},
            "email": {"type": "string", "description": "User's email address"},
        }, required=["username", "email"], answer="User response")


class ElicitationDefaults(ContentTool):
    name = "test_elicitation_sep1034_defaults"
    description = "Elicitation with a default for each primitive type (conformance fixture)."

    def run(self, arguments: Any, ctx: ToolContext) -> Any:
        return _elicited(ctx, "Please review and update the form fields with defaults", {
            "name": {"type": "string", "description": "User name", "default": "John Doe"},
            "age": {"type": "integer", "description": "User age", "default": 30},
            "score": {"type": "number", "description": "User score", "default": 95.5},
            "status": {
                "type": "string", "description": "User status", "enum": ["active", "inactive", "pending"],
                "default": "active",
            },
            "verified": {"type": "boolean", "description": "Verification status", "default": True},
        })


class ElicitationEnums(ContentTool):
    name = "test_elicitation_sep1330_enums"
    description = "Elicitation with the five enum forms (conformance fixture)."

    def run(self, arguments: Any, ctx: ToolContext) -> Any:
        return _elicited(ctx, "Please select options from the enum fields", {
            "untitledSingle": {
                "type": "string", "description": "Select one option", "enum": ["option1", "option2", "option3"],
            },
            "titledSingle": {
                "type": "string", "description": "Select one option with titles",
                "oneOf": [
                    {"const": "value1", "title": "First Option"},
                    {"const": "value2", "title": "Second Option"},
                    {"const": "value3", "title": "Third Option"},
                ],
            },
            "legacyEnum": {
                "type": "string", "description": "Select one option (legacy)",
                "enum": ["opt1", "opt2", "opt3"], "enumNames": ["Option One", "Option Two", "Option Three"],
            },
            "untitledMulti": {
                "type": "array", "description": "Select multiple options",
                "items": {"type": "string", "enum": ["option1", "option2", "option3"]},
            },
            "titledMulti": {
                "type": "array", "description": "Select multiple options with titles",
                "items": {"anyOf": [
                    {"const": "value1", "title": "First Choice"},
                    {"const": "value2", "title": "Second Choice"},
                    {"const": "value3", "title": "Third Choice"},
                ]},
            },
        })


class JsonSchema202012(ContentTool):
    name = "json_schema_2020_12_tool"
    description = "Tool with JSON Schema 2020-12 features"
    # The suite's schema as of 0.2.0-alpha.12 (SEP-1613 and the SEP-2106 vocabulary).
    raw_input_schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {
            "address": {
                "$anchor": "addressDef", "type": "object",
                "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
            },
        },
        "properties": {
            "name": {"type": "string"}, "address": {"$ref": "#/$defs/address"},
            "contactMethod": {"type": "string", "enum": ["phone", "email"]},
            "phone": {"type": "string"}, "email": {"type": "string"},
        },
        "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
        "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
        "then": {"required": ["phone"]},
        "else": {"required": ["email"]},
        "additionalProperties": False,
    }

    def run(self, arguments: Any, ctx: ToolContext) -> Any:
        return {"content": [_text(f"Received: {json.dumps(arguments, sort_keys=True)}")]}


# --- 2026-07-28: questions to the client as input requests (SEP-2322) ---------------------------


def _ask_name(message: str = "What is your name?") -> tuple[str, dict[str, Any]]:
    return "elicitation/create", {
        "message": message,
        "requestedSchema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    }


def _sampling(text: str, max_tokens: int = 100) -> tuple[str, dict[str, Any]]:
    return "sampling/createMessage", {"messages": [{"role": "user", "content": _text(text)}], "maxTokens": max_tokens}


def _sampled_text(result: dict[str, Any]) -> str:
    content = result.get("content")
    blocks = content if isinstance(content, list) else [content]
    return " ".join(b.get("text", "") for b in blocks if isinstance(b, dict) and b.get("type") == "text")


class InputElicitation(ContentTool):
    name = "test_input_required_result_elicitation"
    description = "Asks the user's name, then greets them (conformance fixture)."

    def run(self, arguments: Any, ctx: ToolContext) -> Any:
        method, params = _ask_name()
        answer = ctx.ask_client(method, params, key="user_name")
        name = (answer.get("content") or {}).get("name", "") if answer.get("action") == "accept" else "stranger"
        return {"content": [_text(f"Hello, {name}!")]}


class InputSampling(ContentTool):
    name = "test_input_required_result_sampling"
    description = "Asks the client's LLM a question (conformance fixture)."

    def run(self, arguments: Any, ctx: ToolContext) -> Any:
        method, params = _sampling("What is the capital of France?")
        answer = ctx.ask_client(method, params, key="capital_question")
        return {"content": [_text(f"LLM response: {_sampled_text(answer)}")]}


class InputListRoots(ContentTool):
    name = "test_input_required_result_list_roots"
    description = "Asks the client for its roots (conformance fixture)."

    def run(self, arguments: Any, ctx: ToolContext) -> Any:
        answer = ctx.ask_client("roots/list", {}, key="client_roots")
        roots = ", ".join(str(root.get("uri")) for root in answer.get("roots", []))
        return {"content": [_text(f"Client roots: {roots or '(none)'}")]}


class InputRequestState(ContentTool):
    name = "test_input_required_result_request_state"
    description = "Asks for a confirmation; its answer comes back with the sealed request state (conformance fixture)."

    def run(self, arguments: Any, ctx: ToolContext) -> Any:
        answer = ctx.ask_client("elicitation/create", {
            "message": "Please confirm",
            "requestedSchema": {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]},
        }, key="confirm")
        # Reaching this line means the hub verified the requestState the client echoed.
        return {"content": [_text(f"state-ok: confirmed={json.dumps((answer.get('content') or {}).get('ok'))}")]}


class InputTamperedState(InputRequestState):
    name = "test_input_required_result_tampered_state"
    description = (
        "Like test_input_required_result_request_state; the suite tampers with the state (conformance fixture)."
    )


class InputMultiple(ContentTool):
    name = "test_input_required_result_multiple_inputs"
    description = "Asks an elicitation, a sampling and roots/list at once (conformance fixture)."

    def run(self, arguments: Any, ctx: ToolContext) -> Any:
        answers = ctx.ask_client_many({
            "user_name": _ask_name(),
            "greeting": _sampling("Generate a greeting", 50),
            "client_roots": ("roots/list", {}),
        })
        name = (answers["user_name"].get("content") or {}).get("name", "")
        roots = len(answers["client_roots"].get("roots", []))
        return {"content": [_text(f"{_sampled_text(answers['greeting'])} {name} ({roots} roots)")]}


class InputMultiRound(ContentTool):
    name = "test_input_required_result_multi_round"
    description = "Asks a name, then a favourite colour, in two rounds (conformance fixture)."

    def run(self, arguments: Any, ctx: ToolContext) -> Any:
        method, params = _ask_name("Step 1: What is your name?")
        name = (ctx.ask_client(method, params, key="step1").get("content") or {}).get("name", "")
        color = ctx.ask_client("elicitation/create", {
            "message": "Step 2: What is your favorite color?",
            "requestedSchema": {"type": "object", "properties": {"color": {"type": "string"}}, "required": ["color"]},
        }, key="step2")
        return {"content": [_text(f"{name} likes {(color.get('content') or {}).get('color', '')}")]}


class InputCapabilities(ContentTool):
    name = "test_input_required_result_capabilities"
    description = "Asks only what the client declared it can answer (conformance fixture)."

    def run(self, arguments: Any, ctx: ToolContext) -> Any:
        questions: dict[str, tuple[str, dict[str, Any]]] = {}
        if ctx.client_can("sampling"):
            questions["capital_question"] = _sampling("What is the capital of France?")
        if ctx.client_can("elicitation"):
            questions["user_name"] = _ask_name()
        if not questions:
            return {"content": [_text("The client can answer nothing.")]}
        answers = ctx.ask_client_many(questions)
        return {"content": [_text(f"Answered: {', '.join(sorted(answers))}")]}


# --- 2026-07-28 diagnostics of the stateless scenario (SEP-2575) ------------------------------


class MissingCapability(ContentTool):
    name = "test_missing_capability"
    description = "Needs sampling; a client that did not declare it gets -32021 (conformance fixture)."

    def run(self, arguments: Any, ctx: ToolContext) -> Any:
        answer = ctx.ask_client(*_sampling("Say hello"))
        return {"content": [_text(_sampled_text(answer))]}


class StreamingElicitation(ContentTool):
    name = "test_streaming_elicitation"
    description = "Reports progress, then asks the user something (conformance fixture)."

    def run(self, arguments: Any, ctx: ToolContext) -> Any:
        ctx.report_progress(1, 2, "about to ask")
        answer = ctx.ask_client(*_ask_name())
        return {"content": [_text(f"Hello, {(answer.get('content') or {}).get('name', '')}!")]}


class LoggingTool(ContentTool):
    name = "test_logging_tool"
    description = "Logs at info while it runs; clients that set no log level get none (conformance fixture)."

    def run(self, arguments: Any, ctx: ToolContext) -> Any:
        ctx.log("info", "test_logging_tool ran")
        return {"content": [_text("Logged.")]}


class TriggerToolChange(ContentTool):
    # On a thread of the serving process, not in a tool process: the ToolConfig/Prompt signals
    # that announce list changes are heard only in the process that saves the row.
    runs_in_process = False
    name = "test_trigger_tool_change"
    description = (
        "Changes the tool list: disables or enables a probe tool through its ToolConfig (conformance fixture)."
    )
    annotations = Annotations()

    def run(self, arguments: Any, ctx: ToolContext) -> Any:
        from tools.models import ToolConfig

        # A ToolConfig change is how an operator changes the list: it notifies like one.
        config, created = ToolConfig.objects.get_or_create(tool_name=ListChangeProbe.name, defaults={"enabled": False})
        if not created:
            config.enabled = not config.enabled
            config.save()
        return {"content": [_text(f"{ListChangeProbe.name} enabled: {config.enabled}")]}


class ListChangeProbe(ContentTool):
    name = "test_list_change_probe"
    description = "Comes and goes when test_trigger_tool_change runs (conformance fixture)."


class TriggerPromptChange(ContentTool):
    # On a thread of the serving process, not in a tool process: the ToolConfig/Prompt signals
    # that announce list changes are heard only in the process that saves the row.
    runs_in_process = False
    name = "test_trigger_prompt_change"
    description = "Changes the prompt list: adds or removes a probe prompt (conformance fixture)."
    annotations = Annotations()

    def run(self, arguments: Any, ctx: ToolContext) -> Any:
        from tools.models import Prompt

        # Saving or deleting a Prompt row is how an operator changes the list in the admin.
        deleted, _ = Prompt.objects.filter(name="conformance_probe").delete()
        if not deleted:
            Prompt.objects.create(name="conformance_probe", title="Probe", template="Probe prompt.")
        return {"content": [_text("The prompt list changed.")]}


class CustomHeader(ContentTool):
    name = "test_custom_header"
    description = "Echoes a region that clients mirror into the Mcp-Param-Region header (conformance fixture)."
    raw_input_schema = {
        "type": "object",
        "properties": {"region": {"type": "string", "description": "A region name", "x-mcp-header": "Region"}},
        "required": ["region"],
    }

    def run(self, arguments: Any, ctx: ToolContext) -> Any:
        return {"content": [_text(f"Region: {arguments['region']}")]}


class Reconnection(ContentTool):
    name = "test_reconnection"
    description = "Lets go of its SSE stream mid-call; the client resumes with Last-Event-ID (conformance fixture)."

    def run(self, arguments: Any, ctx: ToolContext) -> Any:
        time.sleep(0.1)
        ctx.release_client_stream()
        time.sleep(0.5)
        return {"content": [_text("Reconnection test completed")]}


# --- the tasks extension (SEP-2663) -------------------------------------------------------------


class Greet(Tool):
    name = "greet"
    description = "Says hello; never a task (conformance fixture)."
    task_support = "forbidden"
    raw_input_schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}

    def mcp_content(self, result: Any) -> list[dict[str, Any]]:
        return list(result["content"])

    def run(self, arguments: Any, ctx: ToolContext) -> Any:
        return {"content": [_text(f"Hello, {arguments['name']}!")]}


class SlowCompute(ContentTool):
    name = "slow_compute"
    description = "Works for `seconds` seconds, then answers; stops when cancelled (conformance fixture)."
    task_support = "optional"
    timeout = 120
    raw_input_schema = {
        "type": "object",
        "properties": {"seconds": {"type": "number", "minimum": 0, "maximum": 100}, "label": {"type": "string"}},
        "required": ["seconds"],
    }

    def run(self, arguments: Any, ctx: ToolContext) -> Any:
        deadline = time.monotonic() + float(arguments["seconds"])
        while time.monotonic() < deadline:
            ctx.raise_if_cancelled()
            time.sleep(0.05)
        return {"content": [_text(f"Computed {arguments.get('label', '')} in {arguments['seconds']} s")]}


class FailingJob(ContentTool):
    name = "failing_job"
    description = "Reports an error after a second; must run as a task (conformance fixture)."
    task_support = "required"

    def run(self, arguments: Any, ctx: ToolContext) -> Any:
        time.sleep(1)
        raise ToolError("failing_job failed, as it always does")


class ProtocolErrorJob(ContentTool):
    name = "protocol_error_job"
    description = "Crashes (an internal failure, not a reported error) (conformance fixture)."
    task_support = "optional"

    def run(self, arguments: Any, ctx: ToolContext) -> Any:
        raise RuntimeError("protocol_error_job crashed")


class ConfirmDelete(ContentTool):
    name = "confirm_delete"
    description = "Asks for a confirmation before it (pretends to) delete a file (conformance fixture)."
    task_support = "optional"
    raw_input_schema = {"type": "object", "properties": {"filename": {"type": "string"}}, "required": ["filename"]}

    def run(self, arguments: Any, ctx: ToolContext) -> Any:
        answer = ctx.ask_client("elicitation/create", {
            "message": f"Delete {arguments['filename']}?",
            "requestedSchema": {
                "type": "object", "properties": {"confirm": {"type": "boolean"}}, "required": ["confirm"],
            },
        }, key="confirm")
        confirmed = answer.get("action") == "accept" and (answer.get("content") or {}).get("confirm") is True
        return {"content": [_text(f"{'Deleted' if confirmed else 'Kept'} {arguments['filename']}")]}


class MultiInput(ContentTool):
    name = "multi_input"
    description = "Asks two questions at once (conformance fixture)."
    task_support = "optional"

    def run(self, arguments: Any, ctx: ToolContext) -> Any:
        schema = {"type": "object", "properties": {"name": {"type": "string"}, "confirm": {"type": "boolean"}}}
        answers = ctx.ask_client_many({
            "first": ("elicitation/create", {"message": "First question", "requestedSchema": schema}),
            "second": ("elicitation/create", {"message": "Second question", "requestedSchema": schema}),
        })
        names = [(a.get("content") or {}).get("name", "") for a in answers.values()]
        return {"content": [_text(f"Answers: {', '.join(names)}")]}


class ToolWithTask(ContentTool):
    name = "test_tool_with_task"
    description = "Asks the user's name while the client waits, then works on as a task (conformance fixture)."
    task_support = "optional"
    asks_before_task = True

    def run(self, arguments: Any, ctx: ToolContext) -> Any:
        method, params = _ask_name()
        answer = ctx.ask_client(method, params, key="user_name")
        time.sleep(0.5)  # the work the task does
        return {"content": [_text(f"Hello, {(answer.get('content') or {}).get('name', '')}!")]}


TOOLS: list[type[Tool]] = [
    SimpleText, ImageContent, AudioContent, EmbeddedResource, MultipleContentTypes, WithLogging, WithProgress,
    ErrorHandling, Sampling, Elicitation, ElicitationDefaults, ElicitationEnums, JsonSchema202012,
    InputElicitation, InputSampling, InputListRoots, InputRequestState, InputTamperedState, InputMultiple,
    InputMultiRound, InputCapabilities, MissingCapability, StreamingElicitation, LoggingTool, TriggerToolChange,
    ListChangeProbe, TriggerPromptChange, CustomHeader, Reconnection,
    Greet, SlowCompute, FailingJob, ProtocolErrorJob, ConfirmDelete, MultiInput, ToolWithTask,
]


# --- prompts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FixturePrompt:
    name: str
    description: str
    arguments: list[dict[str, Any]] = field(default_factory=list)
    completions: dict[str, list[str]] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "arguments": self.arguments}

    def choices(self, argument: str) -> list[str]:
        return self.completions.get(argument, [])

    def render(self, values: dict[str, str], ask: ClientInput | None) -> dict[str, Any]:
        missing = [a["name"] for a in self.arguments if a.get("required") and a["name"] not in values]
        if missing:
            raise MCPError(INVALID_PARAMS, f"Prompt {self.name!r} needs the argument {missing[0]!r}.")
        user = lambda content: {"role": "user", "content": content}  # noqa: E731
        if self.name == "test_simple_prompt":
            messages = [user(_text("This is a simple prompt for testing."))]
        elif self.name == "test_prompt_with_arguments":
            messages = [user(_text(f"Prompt with arguments: arg1='{values['arg1']}', arg2='{values['arg2']}'"))]
        elif self.name == "test_prompt_with_embedded_resource":
            messages = [
                user({"type": "resource", "resource": {
                    "uri": values["resourceUri"], "mimeType": "text/plain",
                    "text": "Embedded resource content for testing.",
                }}),
                user(_text("Please process the embedded resource above.")),
            ]
        elif self.name == "test_input_required_result_prompt":
            if ask is None:
                raise ToolError("This prompt asks the client for context: call it over MCP 2026-07-28.")
            answer = ask({"user_context": ("elicitation/create", {
                "message": "What context should the prompt use?",
                "requestedSchema": {
                    "type": "object", "properties": {"context": {"type": "string"}}, "required": ["context"],
                },
            })})["user_context"]
            messages = [user(_text(f"Use this context: {(answer.get('content') or {}).get('context', '')}"))]
        else:  # test_prompt_with_image
            messages = [
                user({"type": "image", "data": PNG, "mimeType": "image/png"}),
                user(_text("Please analyze the image above.")),
            ]
        return {"description": self.description, "messages": messages}


PROMPTS = {
    p.name: p
    for p in [
        FixturePrompt("test_simple_prompt", "A simple prompt without arguments"),
        FixturePrompt(
            "test_prompt_with_arguments", "A prompt with two required arguments",
            [
                {"name": "arg1", "description": "First test argument", "required": True},
                {"name": "arg2", "description": "Second test argument", "required": True},
            ],
            {"arg1": ["paris", "park", "party"], "arg2": ["world", "word"]},
        ),
        FixturePrompt(
            "test_prompt_with_embedded_resource", "A prompt that embeds a resource",
            [{"name": "resourceUri", "description": "URI of the resource to embed", "required": True}],
        ),
        FixturePrompt("test_prompt_with_image", "A prompt with an image"),
        FixturePrompt("test_input_required_result_prompt", "A prompt that asks the client for context (SEP-2322)"),
    ]
}

# --- resources -------------------------------------------------------------------------------

RESOURCES_LISTED = [
    {"uri": "test://static-text", "name": "static-text", "description": "A static text resource",
     "mimeType": "text/plain"},
    {"uri": "test://static-binary", "name": "static-binary", "description": "A static PNG image",
     "mimeType": "image/png"},
    {"uri": "test://watched-resource", "name": "watched-resource", "description": "A resource to subscribe to",
     "mimeType": "text/plain"},
]
RESOURCE_TEMPLATES = [{
    "uriTemplate": "test://template/{id}/data", "name": "template-data",
    "description": "Data for an id", "mimeType": "application/json",
}]


def read_resource(uri: str) -> list[dict[str, Any]] | None:
    if uri == "test://static-text":
        return [{"uri": uri, "mimeType": "text/plain", "text": "This is the content of the static text resource."}]
    if uri == "test://static-binary":
        return [{"uri": uri, "mimeType": "image/png", "blob": PNG}]
    if uri == "test://watched-resource":
        return [{"uri": uri, "mimeType": "text/plain", "text": "Watched resource content."}]
    prefix, suffix = "test://template/", "/data"
    if uri.startswith(prefix) and uri.endswith(suffix) and len(uri) > len(prefix) + len(suffix):
        item = uri[len(prefix):-len(suffix)]
        text = json.dumps({"id": item, "templateTest": True, "data": f"Data for ID: {item}"})
        return [{"uri": uri, "mimeType": "application/json", "text": text}]
    return None


class ConformanceFixtures(Provider):
    name = "conformance"

    def tools(self) -> list[type[Tool] | Tool]:
        return list(TOOLS)

    async def list_prompts(self, caller: Caller) -> list[dict[str, Any]]:
        return [p.describe() for p in PROMPTS.values()]

    async def get_prompt(
        self, name: str, arguments: dict[str, str], caller: Caller, ask: ClientInput | None
    ) -> dict[str, Any] | None:
        prompt = PROMPTS.get(name)
        return prompt.render(arguments, ask) if prompt is not None else None

    async def complete(self, prompt: str, argument: str) -> list[str] | None:
        return PROMPTS[prompt].choices(argument) if prompt in PROMPTS else None

    async def list_resources(self, caller: Caller) -> list[dict[str, Any]]:
        return list(RESOURCES_LISTED)

    async def list_resource_templates(self, caller: Caller) -> list[dict[str, Any]]:
        return list(RESOURCE_TEMPLATES)

    async def read_resource(self, uri: str, caller: Caller) -> list[dict[str, Any]] | None:
        return read_resource(uri)


provider = ConformanceFixtures()
