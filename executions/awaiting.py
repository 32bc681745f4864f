"""Waiting, from an async door, for an execution that runs somewhere else.

A background tool on a real broker runs in a Celery worker: ``execute_tool`` returns
the row while it is still ``pending``. A door that must answer with the result (an MCP
``tools/call``) watches the execution's channel-layer group for its progress and
result events, and reads the row now and then, so that a result published before
the door was watching, or lost, is still found.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from executions import events
from executions.models import ToolExecution

# How often the row is read while no event arrives.
POLL_SECONDS = 1.0

EventHandler = Callable[[dict[str, Any]], Awaitable[None]]


class ExecutionWatch:
    """A channel in the execution's group; open it before the worker can start."""

    def __init__(self, execution_id: str) -> None:
        self.execution_id = execution_id
        self.layer = get_channel_layer() if events.channel_layer_is_shared() else None
        self.channel: str | None = None

    async def open(self) -> None:
        if self.layer is not None and self.channel is None:
            self.channel = await self.layer.new_channel()
            await self.layer.group_add(events.group_name(self.execution_id), self.channel)

    async def close(self) -> None:
        if self.layer is not None and self.channel is not None:
            await self.layer.group_discard(events.group_name(self.execution_id), self.channel)
            self.channel = None

    async def wait(self, on_event: EventHandler | None = None) -> ToolExecution:
        """Pass progress and log events on until the execution is final; return its row.

        The row is read at the start and whenever no event came for ``POLL_SECONDS``, not
        after every progress event.
        """
        await self.open()
        try:
            execution = await _get(self.execution_id)
            while not execution.is_final:
                event = await self._next_event()
                if event is None or event.get("type") == "execution.result":
                    execution = await _get(self.execution_id)
                elif on_event is not None:
                    await on_event(event)
            return execution
        finally:
            await self.close()

    async def _next_event(self) -> dict[str, Any] | None:
        if self.layer is None or self.channel is None:
            await asyncio.sleep(POLL_SECONDS)
            return None
        try:
            return await asyncio.wait_for(self.layer.receive(self.channel), timeout=POLL_SECONDS)
        except TimeoutError:
            return None


@database_sync_to_async
def _get(execution_id: str) -> ToolExecution:
    return ToolExecution.objects.get(pk=execution_id)
