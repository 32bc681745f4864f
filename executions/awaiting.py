"""Waiting, from an async door, for an execution that runs somewhere else.

A background tool on a real broker runs in a Celery worker: ``execute_tool`` returns
the row while it is still ``pending``. A door that must answer with the result (an MCP
``tools/call``) follows the execution's events (``events.follow``: in this process and,
with Redis, from every other) for its progress and result, and reads the row now and
then, so that a result published before the door was watching, or lost, is still found.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.conf import settings

from executions import events
from executions.models import ToolExecution

# How often the row is read while no event arrives.
POLL_SECONDS = 1.0
# The longest a REST request may wait for an execution to end (Prefer: wait, ?wait=).
WAIT_MAX_SECONDS = 60

EventHandler = Callable[[dict[str, Any]], Awaitable[None]]


class ExecutionWatch:
    """The execution's events, wherever it runs; open it before the worker can start.

    Events arrive on any thread (this process's publisher, the bus's reader); they are
    kept here until ``wait`` takes them, on whichever event loop it runs."""

    def __init__(self, execution_id: str) -> None:
        self.execution_id = execution_id
        self._stop: Callable[[], None] | None = None
        self._events: deque[dict[str, Any]] = deque()
        self._waiter: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None

    async def open(self) -> None:
        if self._stop is None:
            self._stop = await events.follow(self.execution_id, self._arrived)

    def open_blocking(self) -> None:
        """``open`` from a thread that is not on an event loop (a call's thread)."""
        if self._stop is None:
            self._stop = events.follow_blocking(self.execution_id, self._arrived)

    def stop(self) -> None:
        """Stop following (never waits: Redis is told in the background)."""
        if self._stop is not None:
            self._stop()
            self._stop = None

    async def close(self) -> None:
        self.stop()

    def _arrived(self, event: dict[str, Any]) -> None:
        self._events.append(event)
        waiter = self._waiter
        if waiter is not None:
            loop, arrived = waiter
            with contextlib.suppress(RuntimeError):  # its loop is closed: nobody waits
                loop.call_soon_threadsafe(arrived.set)

    async def wait(self, on_event: EventHandler | None = None, known: ToolExecution | None = None) -> ToolExecution:
        """Pass progress and log events on until the execution is final; return its row.

        The row is read at the start (unless the caller passes it as ``known``: a door that
        opened the watch before the task was sent misses no event) and whenever no event
        came for ``POLL_SECONDS``. A final result event carries what a door answers with
        (status, result, error): the row is not read again for it.
        """
        await self.open()
        try:
            execution = known if known is not None else await _get(self.execution_id)
            while not execution.is_final:
                event = await self._next_event()
                if event is None:
                    execution = await _get(self.execution_id)
                elif event.get("type") == "execution.result":
                    if event.get("status") in ToolExecution.FINAL_STATUSES:
                        execution.status, execution.result = event["status"], event.get("result")
                        execution.error = event.get("error", "")
                    else:
                        execution = await _get(self.execution_id)
                elif on_event is not None:
                    await on_event(event)
            return execution
        finally:
            await self.close()

    async def _next_event(self) -> dict[str, Any] | None:
        """The next event, or None when none came for POLL_SECONDS."""
        arrived = asyncio.Event()
        self._waiter = (asyncio.get_running_loop(), arrived)  # before looking: no event slips past
        try:
            if not self._events:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(arrived.wait(), timeout=POLL_SECONDS)
            return self._events.popleft() if self._events else None
        finally:
            self._waiter = None


def runs_elsewhere(execution: ToolExecution) -> bool:
    """Whether a just announced execution runs in a worker rather than in this process."""
    return execution.status == ToolExecution.Status.PENDING and not settings.CELERY_TASK_ALWAYS_EAGER


def watch_for_worker(execution: ToolExecution) -> ExecutionWatch | None:
    """A watch for an execution a worker will run (call it when the row is announced,
    before the task is sent); None when it runs here, or ran already."""
    return ExecutionWatch(str(execution.id)) if runs_elsewhere(execution) else None


@database_sync_to_async
def _get(execution_id: str) -> ToolExecution:
    return ToolExecution.objects.get(pk=execution_id)


def wait_blocking(
    watch: ExecutionWatch, seconds: float, known: ToolExecution | None = None, on_event: EventHandler | None = None,
) -> ToolExecution | None:
    """``watch.wait`` from sync code (a REST view on its request's thread, a command): the
    execution once final, or None when ``seconds`` passed first. The watch is closed either
    way. ``on_event`` gets the progress and log events meanwhile."""

    async def wait() -> ToolExecution | None:
        try:
            return await asyncio.wait_for(watch.wait(on_event, known=known), timeout=seconds)
        except TimeoutError:
            return None

    return async_to_sync(wait)()


def prefer_wait(header: str | None) -> int | None:
    """Seconds from an RFC 7240 ``Prefer: wait=N`` header (other preferences and malformed
    ones are ignored, as the RFC asks), at most WAIT_MAX_SECONDS."""
    for preference in (header or "").split(","):
        name, _, value = preference.strip().partition("=")
        if name.strip().lower() == "wait" and value.strip().isdigit():
            return min(int(value.strip()), WAIT_MAX_SECONDS)
    return None
