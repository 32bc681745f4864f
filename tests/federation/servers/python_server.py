"""A remote MCP server for the federation tests, written with the Python SDK.

    python python_server.py stdio           both protocol eras (the client picks 2026-07-28)
    python python_server.py stdio-legacy    the 2025-11-25 handshake era only
    python python_server.py http PORT       Streamable HTTP on 127.0.0.1:PORT/mcp

Tools: echo (read-only, idempotent), add, count (progress), sleep, pid, headers (the
HTTP request headers it received), grow (adds a tool and says the list changed),
drop_listeners (ends the listen streams), fail (a tool error), ask (a sampling, elicitation
or roots request to the client; kind=form asks a form of every field type), shout (a log
message).
"""

from __future__ import annotations

import asyncio
import os
import sys
import warnings
from typing import Annotated

import anyio
import mcp_types as types
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.runner import serve_loop
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp_types import InputRequiredResult, ToolAnnotations
from pydantic import Field

# Sampling and logging are what the tests exercise, deprecated or not.
warnings.filterwarnings("ignore", category=MCPDeprecationWarning)

server = MCPServer("federation-test-server")


@server.tool(annotations=ToolAnnotations(readOnlyHint=True, idempotentHint=True))
def echo(text: str) -> dict[str, str]:
    """Return the text."""
    return {"text": text}


@server.tool()
def add(a: int, b: int) -> dict[str, int]:
    """Add two integers."""
    return {"sum": a + b}


@server.tool()
async def count(steps: int, ctx: Context, delay: float = 0.05) -> dict[str, int]:
    """Count to steps, reporting progress at each step."""
    for step in range(1, steps + 1):
        await asyncio.sleep(delay)
        await ctx.report_progress(step, steps, f"step {step}")
    return {"steps": steps}


# Calls of `sleep` that the client cancelled, in this process (see `cancellations`).
CANCELLED: list[float] = []


@server.tool()
async def sleep(seconds: float, ctx: Context) -> dict[str, float]:
    """Sleep, then answer (the timeout and kill tests). Its first progress says it has started."""
    await ctx.report_progress(0, seconds, "sleeping")
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        CANCELLED.append(seconds)
        raise
    return {"slept": seconds}


@server.tool()
def cancellations() -> dict[str, list[float]]:
    """The `sleep` calls of this process that the client cancelled (their seconds)."""
    return {"cancelled": CANCELLED}


@server.tool()
async def pid(hold: float = 0.0) -> dict[str, int]:
    """This process's id, after holding the session for a while."""
    await asyncio.sleep(hold)
    return {"pid": os.getpid()}


@server.tool()
def headers(
    ctx: Context, region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})] = ""
) -> dict[str, dict[str, str]]:
    """The HTTP headers of this request, as the server received them (region: mirrored as Mcp-Param-Region)."""
    return {"headers": {k.lower(): v for k, v in (ctx.headers or {}).items()}}


@server.tool()
async def grow(ctx: Context, linger: float = 0.0) -> dict[str, str]:
    """Add the tool `extra`, tell the client that the tool list changed, then hold the
    session for `linger` seconds (a re-list must not wait for this call to end)."""

    def extra() -> dict[str, str]:
        """A tool that appeared at run time."""
        return {"extra": "yes"}

    server.add_tool(extra, name="extra")
    if ctx.protocol_version == "2026-07-28":
        await ctx.notify_tools_changed()
    else:
        await ctx.session.send_tool_list_changed()
    await asyncio.sleep(linger)
    return {"added": "extra"}


@server.tool()
def drop_listeners() -> dict[str, bool]:
    """End every open subscriptions/listen stream, as a server restarting its event bus would."""
    server._lowlevel_server.get_request_handler("subscriptions/listen").handler.close()
    return {"dropped": True}


@server.tool()
def fail(reason: str) -> dict[str, str]:
    """Always fails with the reason."""
    raise ToolError(reason)


QUESTIONS: dict[str, types.InputRequest] = {
    "sampling": types.CreateMessageRequest(
        params=types.CreateMessageRequestParams(
            messages=[types.SamplingMessage(role="user", content=types.TextContent(type="text", text="hi"))],
            max_tokens=5,
        )
    ),
    "elicitation": types.ElicitRequest(
        params=types.ElicitRequestFormParams(
            message="Your name?", requested_schema={"type": "object", "properties": {"name": {"type": "string"}}}
        )
    ),
    # A form of every field type the task pane shows.
    "form": types.ElicitRequest(
        params=types.ElicitRequestFormParams(
            message="Book a table", requested_schema={
                "type": "object",
                "properties": {
                    "name": {"type": "string", "title": "Your name", "description": "As on the booking"},
                    "guests": {"type": "integer", "title": "Guests", "minimum": 1, "default": 2},
                    "outside": {"type": "boolean", "title": "Sit outside", "default": False},
                    "time": {"type": "string", "title": "Time", "oneOf": [
                        {"const": "19:00", "title": "Seven"}, {"const": "21:00", "title": "Nine"}]},
                },
                "required": ["name", "guests"],
            },
        )
    ),
    "roots": types.ListRootsRequest(),
}


@server.tool()
async def ask(ctx: Context, kind: str = "sampling") -> dict[str, str] | InputRequiredResult:
    """Ask the client something (kind: sampling, elicitation, form or roots) and report what came back.

    2026-07-28 asks by answering with an InputRequiredResult (the client answers the
    question and calls again); 2025-11-25 sends a request to the client during the call.
    """
    question = QUESTIONS[kind]
    if ctx.protocol_version == "2026-07-28":
        if ctx.input_responses:
            return {"answer": str(ctx.input_responses["q"])}
        return InputRequiredResult(input_requests={"q": question})
    try:
        if isinstance(question, types.CreateMessageRequest):
            result: object = await ctx.session.create_message(
                messages=question.params.messages, max_tokens=question.params.max_tokens
            )
        elif isinstance(question, types.ElicitRequest):
            result = await ctx.session.elicit_form(
                message=question.params.message, requested_schema=question.params.requested_schema
            )
        else:
            result = await ctx.session.list_roots()
    except Exception as exc:
        return {"error": str(exc)}
    return {"answer": str(result)}


@server.tool()
async def shout(message: str, ctx: Context) -> dict[str, str]:
    """Send a warning log message to the client."""
    await ctx.warning(message)
    return {"logged": message}


async def _stdio_legacy() -> None:
    # serve_loop answers only the initialize handshake: a 2025-11-25-only server.
    lowlevel = server._lowlevel_server
    async with stdio_server() as (read_stream, write_stream), lowlevel.lifespan(lowlevel) as state:
        await serve_loop(
            lowlevel, read_stream, write_stream, lifespan_state=state,
            init_options=lowlevel.create_initialization_options(),
        )


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "stdio"
    if mode == "stdio":
        server.run("stdio")
    elif mode == "stdio-legacy":
        anyio.run(_stdio_legacy)
    elif mode == "http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
