"""The hub's own MCP prompts and resources, as providers (see ``mcp_server.providers``)."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Any

from channels.db import database_sync_to_async
from django.db.models.signals import post_delete, post_save

from executions import policy
from executions.awaiting import ExecutionWatch
from executions.models import ToolExecution
from executions.selectors import execution_of_user
from mcp_server.caller import Caller
from mcp_server.providers import Provider, ResourceNotFound
from mcp_server.results import EXECUTION_SCHEME
from tools.base import ClientInput
from tools.models import Prompt

# How many of a caller's executions resources/list shows (newest first).
RESOURCE_LIST_LIMIT = 50


class HubPrompts(Provider):
    """The enabled ``Prompt`` rows, edited in the admin; a change is announced to clients."""

    name = "prompts"

    def __init__(self) -> None:
        super().__init__()
        # Sent after the row is saved or deleted, on the thread that did it.
        post_save.connect(self._rows_changed, sender=Prompt, weak=False)
        post_delete.connect(self._rows_changed, sender=Prompt, weak=False)

    def _rows_changed(self, **kwargs: Any) -> None:
        self.changed("prompts")

    async def list_prompts(self, caller: Caller) -> list[dict[str, Any]]:
        prompts = await database_sync_to_async(lambda: list(Prompt.objects.filter(enabled=True)))()
        return [_describe(p) for p in prompts]

    async def get_prompt(
        self, name: str, arguments: dict[str, str], caller: Caller, ask: ClientInput | None
    ) -> dict[str, Any] | None:
        prompt = await _enabled_prompt(name)
        if prompt is None:
            return None
        try:
            text = prompt.render(arguments)
        except KeyError as exc:
            raise ValueError(f"Prompt {prompt.name!r} needs the argument {exc.args[0]!r}.") from None
        return {
            "description": prompt.description or prompt.title,
            "messages": [{"role": "user", "content": {"type": "text", "text": text}}],
        }

    async def complete(self, prompt: str, argument: str) -> list[str] | None:
        row = await _enabled_prompt(prompt)
        if row is None:
            return None
        for described in row.arguments:
            if described.get("name") == argument:
                return list(described.get("choices") or [])
        return []


async def _enabled_prompt(name: str) -> Prompt | None:
    return await database_sync_to_async(lambda: Prompt.objects.filter(name=name, enabled=True).first())()


def _describe(prompt: Prompt) -> dict[str, Any]:
    return {
        "name": prompt.name,
        "title": prompt.title or None,
        "description": prompt.description or prompt.title or prompt.name,
        "arguments": [
            {"name": a["name"], "description": a.get("description", ""), "required": bool(a.get("required"))}
            for a in prompt.arguments
        ],
    }


class ExecutionResources(Provider):
    """The caller's own executions, from any door, as ``execution://{id}`` (JSON); a token
    needs the ``executions:read`` scope to list or read them."""

    name = "executions"

    async def list_resources(self, caller: Caller) -> list[dict[str, Any]]:
        policy.scope_require(scopes=caller.scopes, scope="executions:read")
        executions = await database_sync_to_async(
            lambda: list(ToolExecution.objects.filter(user=caller.user).order_by("-created")[:RESOURCE_LIST_LIMIT])
        )()
        return [
            {
                "uri": f"{EXECUTION_SCHEME}{e.id}",
                "name": f"execution-{e.id}",
                "title": f"{e.tool_name} ({e.status}, {e.created:%Y-%m-%d %H:%M:%S})",
                "description": f"Your call of {e.tool_name} via {e.via}: {e.status}.",
                "mimeType": "application/json",
            }
            for e in executions
        ]

    async def list_resource_templates(self, caller: Caller) -> list[dict[str, Any]]:
        return [{
            "uriTemplate": EXECUTION_SCHEME + "{id}",
            "name": "execution",
            "title": "One of your tool executions",
            "description": "A call you made through any door: arguments, status, result, error and timing.",
            "mimeType": "application/json",
        }]

    async def read_resource(self, uri: str, caller: Caller) -> list[dict[str, Any]] | None:
        execution = await self._execution(uri, caller)
        if execution is None:
            return None
        text = json.dumps(_document(execution), ensure_ascii=False, indent=2)
        return [{"uri": uri, "mimeType": "application/json", "text": text}]

    async def watch_resource(self, uri: str, caller: Caller) -> Awaitable[object] | None:
        execution = await self._execution(uri, caller)
        if execution is None or execution.is_final:
            return None  # an ended execution does not change any more
        return ExecutionWatch(str(execution.id)).wait()

    async def _execution(self, uri: str, caller: Caller) -> ToolExecution | None:
        if not uri.startswith(EXECUTION_SCHEME):
            return None
        policy.scope_require(scopes=caller.scopes, scope="executions:read")
        execution = await database_sync_to_async(execution_of_user)(
            execution_id=uri.removeprefix(EXECUTION_SCHEME), user=caller.user
        )
        if execution is None:
            raise ResourceNotFound(uri)  # someone else's execution answers like a missing one
        return execution


def _document(e: ToolExecution) -> dict[str, Any]:
    return {
        "id": str(e.id), "tool": e.tool_name, "server": e.server or None, "via": e.via, "status": e.status,
        "arguments": e.arguments, "result": e.result, "error": e.error or None, "cache_hit": e.cache_hit,
        "created": e.created.isoformat(), "started": e.started.isoformat() if e.started else None,
        "finished": e.finished.isoformat() if e.finished else None, "duration_ms": e.duration_ms,
    }
