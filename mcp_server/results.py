"""A finished execution as an MCP ``CallToolResult`` (tools/call, and tasks/get of a task)."""

from __future__ import annotations

import mcp_types as types

from executions.models import ToolExecution
from tools.base import Tool

# Executions are resources: execution://<id> (resources/read), named in each result's _meta.
EXECUTION_SCHEME = "execution://"


def error_result(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True)


def call_result(tool: Tool | None, execution: ToolExecution) -> types.CallToolResult:
    meta = {"mcpsite/execution": f"{EXECUTION_SCHEME}{execution.id}"}
    if execution.status != ToolExecution.Status.SUCCESS:
        message = execution.error or f"The call ended with status {execution.status}."
        if execution.status == ToolExecution.Status.TIMEOUT:
            message = f"Timed out: {message}"
        result = error_result(message)
        result.meta = meta
        return result
    content = (tool or Tool()).mcp_content(execution.result)  # a remote tool may be gone by now
    structured = execution.result if tool is not None and tool.output_schema is not None else None
    return types.CallToolResult.model_validate(
        {"content": content, "structuredContent": structured, "_meta": meta}
    )
