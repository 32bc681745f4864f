"""A remote server's tool as a registry ``Tool``, named ``<server>__<tool>``."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import queue
from typing import Any

import mcp_types as types
import referencing.exceptions
from mcp.shared.exceptions import MCPError

from mcpsite.handler import on_a_thread
from tools.base import Annotations, InvalidArguments, Mode, Tool, ToolCancelled, ToolContext, ToolError
from tools.federation.hub import federation
from tools.federation.pool import RemoteBadResult, RemoteUnavailable, ServerConfig

logger = logging.getLogger(__name__)

SEPARATOR = "__"
# How often a waiting run passes progress on and looks at the cancel flag.
WAIT_STEP_SECONDS = 0.1


def _annotations(raw: dict[str, Any]) -> Annotations:
    hints = raw.get("annotations") or {}
    return Annotations(
        read_only=bool(hints.get("readOnlyHint", False)),
        # MCP's default for a tool that says nothing is "may be destructive".
        destructive=bool(hints.get("destructiveHint", not hints.get("readOnlyHint", False))),
        idempotent=bool(hints.get("idempotentHint", False)),
        open_world=bool(hints.get("openWorldHint", True)),
    )


def _content_text(result: types.CallToolResult) -> str:
    texts = [c.text for c in result.content if isinstance(c, types.TextContent)]
    return "\n".join(texts).strip()


def result_payload(result: types.CallToolResult) -> dict[str, Any]:
    """The hub's structured result: the remote's structured content, else its content blocks."""
    if result.structured_content is not None:
        return dict(result.structured_content)
    return {"content": [c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in result.content]}


class RemoteTool(Tool):
    """Calls ``remote_name`` on one remote server through this process's pool."""

    mode = Mode.INLINE
    # I/O on this process's federation loop, which cancels the remote request itself.
    runs_in_process = False

    def __init__(self, config: ServerConfig, raw: dict[str, Any], *, held: list[str] | None = None) -> None:
        self.config = config
        # The definition fields that changed since approval: the tool is listed with its
        # approved definition (``raw``) and refused until an admin approves the new one.
        self.held = held
        self.remote_name: str = raw["name"]
        self.name = f"{config.name}{SEPARATOR}{self.remote_name}"  # type: ignore[misc]
        self.title = raw.get("title") or (raw.get("annotations") or {}).get("title") or self.remote_name  # type: ignore[misc]
        self.description = raw.get("description") or ""  # type: ignore[misc]
        self.raw = raw
        self.raw_input_schema = raw.get("inputSchema") or {"type": "object", "properties": {}}
        self.raw_output_schema = raw.get("outputSchema")
        self.annotations = _annotations(raw)  # type: ignore[misc]
        # Only results the remote itself calls repeatable are worth caching.
        self.cacheable = self.annotations.read_only and self.annotations.idempotent  # type: ignore[misc]
        self.timeout = config.timeout  # type: ignore[misc]
        self.source = config.name  # type: ignore[misc]

    def validate(self, arguments: Any) -> Any:
        """The remote's schema decides; an optional argument given as null where the schema
        takes no null counts as not given (MCP: a null parameter is one left out) and is not
        passed on. A schema whose ``$ref`` points outside itself is never fetched (SEP-2106):
        what the hub cannot check, the remote does."""
        try:
            return super().validate(arguments)
        except referencing.exceptions.Unresolvable as exc:
            logger.info("%s: arguments passed on unchecked, its schema refers outside itself (%s)", self.name, exc)
            return arguments
        except InvalidArguments as refused:
            if not isinstance(arguments, dict):
                raise
            required = set(self.input_schema.get("required") or ())
            faulted = {error["loc"] for error in refused.errors}
            left_out = {k for k, v in arguments.items() if v is None and k not in required and k in faulted}
            if not left_out:
                raise
            try:
                return super().validate({k: v for k, v in arguments.items() if k not in left_out})
            except InvalidArguments:
                raise refused from None

    @property
    def available(self) -> bool:
        return self.held is None and federation().health.get(self.source).healthy is not False

    @property
    def unavailable_reason(self) -> str:
        if self.held is not None:
            return (
                f"Tool {self.name!r} is held: remote server {self.source!r} changed its definition "
                f"({', '.join(self.held)}) since it was approved; an admin must review and approve it."
            )
        health = federation().health.get(self.source)
        reason = f": {health.error}" if health.error else ""
        return f"Tool {self.name!r} is unavailable: remote server {self.source!r} is failing{reason}."

    def run(self, arguments: Any, ctx: ToolContext) -> Any:
        updates: queue.SimpleQueue[tuple[float, float | None, str | None]] = queue.SimpleQueue()

        # The SDK's ProgressFnT, which names the parameters.
        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            # Called on the federation loop; the tool's own thread passes it on.
            updates.put((progress, total, message))

        def pass_progress() -> None:
            while not updates.empty():
                ctx.report_progress(*updates.get_nowait())

        asked: dict[str, int] = {}

        async def ask(method: str, params: dict[str, Any], key: str | None) -> dict[str, Any]:
            # A 2026-07-28 remote's question keeps its key towards the hub's caller, numbered
            # when a later round asks under the same key again: a replayed run (after the
            # caller's answers) asks the same keys, and an answer never fits another question.
            if key is not None:
                asked[key] = asked.get(key, 0) + 1
                if asked[key] > 1:
                    key = f"{key}-{asked[key]}"
            # ask_client blocks until the door's client answers (a person, maybe): off the
            # federation loop, and not on its os.cpu_count() + 4 default threads, which that
            # many open questions took, and with them every later question and the loop's
            # name lookups.
            return await on_a_thread(functools.partial(ctx.ask_client, method, params, key=key))

        hub = federation()
        pool = hub.pools.pool_for(self.config)
        future = hub.loop.submit(
            pool.call_tool(self.remote_name, arguments, progress=on_progress, definition=self.raw, asker=ask)
        )
        try:
            while True:
                try:
                    result = future.result(timeout=WAIT_STEP_SECONDS)
                    break
                except concurrent.futures.TimeoutError:
                    pass_progress()
                    if ctx.cancelled:
                        # Cancelling the task abandons the request; the SDK sends the
                        # remote notifications/cancelled.
                        future.cancel()
                        raise ToolCancelled("The execution was cancelled.") from None
        except RemoteUnavailable as exc:
            hub.unreachable(self.source, str(exc))
            raise ToolError(f"Remote server {self.source!r} is unavailable: {exc}") from None
        except RemoteBadResult as exc:
            # The server answered: its health is not in question, only this answer.
            raise ToolError(f"Remote server {self.source!r} answered {self.remote_name!r} wrongly: {exc}") from None
        except MCPError as exc:
            if exc.code == types.REQUEST_TIMEOUT:
                raise ToolError(
                    f"Remote server {self.source!r} did not answer within {self.config.timeout:g} s."
                ) from None
            raise ToolError(f"Remote server {self.source!r} refused the call: {exc.message}") from None
        except (concurrent.futures.CancelledError, asyncio.CancelledError):
            raise ToolCancelled("The execution was cancelled.") from None
        pass_progress()
        if result.is_error:
            raise ToolError(_content_text(result) or f"Remote tool {self.name!r} reported an error.")
        return result_payload(result)
