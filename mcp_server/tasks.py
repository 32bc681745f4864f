"""MCP tasks (the ``io.modelcontextprotocol/tasks`` extension, SEP-2663) over executions.

A task is a ``ToolExecution`` run in the background (a Celery worker, or a thread of
the web process without a broker), with ``task_ttl_ms`` set; its id is the task id.
Everything a client asks about a task is read from or written to that row, so any web
process answers for any task, also after a restart:

=====================  ============================================================
task                   ToolExecution
=====================  ============================================================
working                pending, running
input_required         input_required (``input_requests`` are the open questions)
completed              success, or error reported by the tool (``isError`` result)
failed                 timeout, or a tool that crashed (``crashed``)
cancelled              cancelled
tasks/update           ``services.execution_answer``: answers stored, resumed when all are in
tasks/cancel           ``services.execution_cancel`` (the row first, then the worker)
ttlMs                  ``task_ttl_ms``: past it, ``tasks/get`` answers -32602
=====================  ============================================================

Tools say whether they may run as tasks (``Tool.task_support``). A client that declared
the extension gets a task for a tool that supports one; a tool that requires one
answers -32021 to a client that did not declare it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import mcp_types as types
from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError
from pydantic import Field

from executions import services
from executions.calls import DoorCall
from executions.models import ToolExecution
from mcp_server import client_input
from mcp_server.results import call_result
from tools.base import Tool
from tools.registry import registry

if TYPE_CHECKING:
    from mcp_server.server import Caller, HubServer

TASKS_EXTENSION = "io.modelcontextprotocol/tasks"
POLL_INTERVAL_MS = 500
Status = ToolExecution.Status


class TaskParams(types.RequestParams):
    task_id: str


class TaskUpdateParams(TaskParams):
    input_responses: dict[str, Any] = Field(default_factory=dict)


def install(hub: HubServer) -> None:
    """Advertise the extension and serve its methods on the hub's SDK server."""
    hub.server.extensions[TASKS_EXTENSION] = {}
    hub.server.add_request_handler("tasks/get", TaskParams, _with_hub(hub, task_get))
    hub.server.add_request_handler("tasks/update", TaskUpdateParams, _with_hub(hub, task_update))
    hub.server.add_request_handler("tasks/cancel", TaskParams, _with_hub(hub, task_cancel))


def _with_hub(hub: HubServer, handler: Any) -> Any:
    async def handle(ctx: ServerRequestContext[Any], params: Any) -> Any:
        _require_extension(ctx)
        # SEP-2243: the Mcp-Name routing header, when sent, must name the body's task.
        header = ctx.request.headers.get("mcp-name") if ctx.request is not None else None
        if header is not None and header != params.task_id:
            raise MCPError(
                types.HEADER_MISMATCH, "The Mcp-Name header does not match params.taskId.", {"header": "Mcp-Name"}
            )
        caller = await hub.caller(ctx)
        return await handler(caller, params)

    return handle


def client_declares_tasks(ctx: ServerRequestContext[Any]) -> bool:
    capabilities = client_input.client_capabilities(ctx)
    extensions = getattr(capabilities, "extensions", None) or {}
    return TASKS_EXTENSION in extensions


def missing_extension(what: str) -> MCPError:
    return MCPError(
        types.MISSING_REQUIRED_CLIENT_CAPABILITY,
        f"{what} needs the {TASKS_EXTENSION} extension, which the request did not declare.",
        {"requiredCapabilities": {"extensions": {TASKS_EXTENSION: {}}}},
    )


def _require_extension(ctx: ServerRequestContext[Any]) -> None:
    if not client_declares_tasks(ctx):
        raise missing_extension(f"{ctx.method}")


def runs_as_task(ctx: ServerRequestContext[Any], tool: Tool | None, modern: bool) -> bool:
    """Whether this tools/call becomes a task; raises -32021 when the tool requires one
    and the client cannot take it."""
    support = tool.effective_task_support if tool is not None else "forbidden"
    if support == "forbidden":
        return False
    declared = modern and client_declares_tasks(ctx)
    if support == "required" and not declared:
        raise missing_extension(f"Tool {tool.name!r}" if tool is not None else "This tool")
    return declared


async def task_create(caller: Caller, params: types.CallToolRequestParams) -> dict[str, Any]:
    """Record the call as a background execution and answer with the task (CreateTaskResult)."""
    ttl_ms = int(settings.MCP_TASK_TTL * 1000)
    execution = await DoorCall().run(
        user=caller.user, tool_name=params.name, arguments=params.arguments or {}, via="mcp",
        session=caller.session, scopes=caller.scopes, task_ttl_ms=ttl_ms,
    )
    return {"resultType": "task", **_task_fields(execution)}


async def task_after_answers(caller: Caller, execution_id: str, answers: dict[str, Any]) -> dict[str, Any] | None:
    """A call that asked its questions before becoming a task (``Tool.asks_before_task``),
    answered: the answers go to the row and it becomes a task (CreateTaskResult). None
    when questions remain open; the caller asks them again."""
    ttl_ms = int(settings.MCP_TASK_TTL * 1000)

    def answer() -> ToolExecution:
        execution = _waiting_call(caller, execution_id)
        return services.execution_answer(execution=execution, answers=answers, task_ttl_ms=ttl_ms)

    execution = await database_sync_to_async(answer)()
    if execution.status == Status.INPUT_REQUIRED:
        return None
    return {"resultType": "task", **_task_fields(execution)}


def _waiting_call(caller: Caller, execution_id: str) -> ToolExecution:
    execution = ToolExecution.objects.filter(pk=execution_id, user=caller.user).first()
    if execution is None or execution.status != Status.INPUT_REQUIRED:
        raise MCPError(types.INVALID_PARAMS, "This call is no longer waiting for input.")
    return execution


async def task_get(caller: Caller, params: TaskParams) -> dict[str, Any]:
    execution = await database_sync_to_async(_task_of)(caller, params.task_id)
    return {"resultType": "complete", **task_detail(execution)}


async def task_update(caller: Caller, params: TaskUpdateParams) -> dict[str, Any]:
    execution = await database_sync_to_async(_task_of)(caller, params.task_id)
    answers = client_input.wire_answers(params.input_responses)
    await database_sync_to_async(services.execution_answer)(execution=execution, answers=answers)
    return {"resultType": "complete"}


async def task_cancel(caller: Caller, params: TaskParams) -> dict[str, Any]:
    execution = await database_sync_to_async(_task_of)(caller, params.task_id)
    # Cancelling a task that has ended is acknowledged the same way (idempotent).
    await database_sync_to_async(services.execution_cancel)(execution=execution, user=caller.user)
    return {"resultType": "complete"}


def _task_of(caller: Caller, task_id: str) -> ToolExecution:
    """The caller's task with this id; another user's, an expired or an unknown one is -32602."""
    execution = None
    try:
        execution = ToolExecution.objects.filter(pk=task_id, user=caller.user, task_ttl_ms__isnull=False).first()
    except Exception:  # not a UUID
        execution = None
    if execution is None or _expired(execution):
        raise MCPError(types.INVALID_PARAMS, f"Unknown task: {task_id!r}.", {"taskId": task_id})
    return execution


def _expired(execution: ToolExecution) -> bool:
    ttl = execution.task_ttl_ms
    return ttl is not None and timezone.now() > execution.created + timedelta(milliseconds=ttl)


def task_status(execution: ToolExecution) -> str:
    if execution.status in (Status.PENDING, Status.RUNNING):
        return "working"
    if execution.status == Status.INPUT_REQUIRED:
        return "input_required"
    if execution.status == Status.SUCCESS or (execution.status == Status.ERROR and not execution.crashed):
        return "completed"
    if execution.status == Status.CANCELLED:
        return "cancelled"
    return "failed"


def _task_fields(execution: ToolExecution) -> dict[str, Any]:
    updated = max(t for t in (execution.created, execution.started, execution.finished) if t is not None)
    fields: dict[str, Any] = {
        "taskId": str(execution.id),
        "status": task_status(execution),
        "createdAt": execution.created.isoformat(),
        "lastUpdatedAt": updated.isoformat(),
        "ttlMs": execution.task_ttl_ms,
        "pollIntervalMs": POLL_INTERVAL_MS,
    }
    if execution.progress_message:
        fields["statusMessage"] = execution.progress_message
    return fields


def task_detail(execution: ToolExecution) -> dict[str, Any]:
    """The DetailedTask of tasks/get: the task, with its result, error or open questions."""
    detail = _task_fields(execution)
    status = detail["status"]
    if status == "completed":
        result = call_result(registry.get(execution.tool_name), execution)
        detail["result"] = result.model_dump(by_alias=True, mode="json", exclude_none=True)
    elif status == "failed":
        message = execution.error or f"The task ended as {execution.status}."
        detail["error"] = {"code": types.INTERNAL_ERROR, "message": message}
    elif status == "input_required":
        detail["inputRequests"] = execution.input_requests or {}
    elif status == "cancelled":
        detail["statusMessage"] = execution.error or "Cancelled."
    return detail
