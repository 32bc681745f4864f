"""The adapter async doors share for one tool call (the MCP server, the add-in's socket).

``execute_tool`` is synchronous and runs the tool where it runs; an async door must not
block its event loop on it. ``DoorCall`` does what every async door needs around it, so
that a door keeps only the translation to its protocol:

* run the call off the loop, once (one hop to a kept thread per call, ``mcpsite.handler.on_a_thread``,
  not thread sensitive, so that one connection can have several calls in flight, and
  not the loop's few default threads, so that slow calls do not hold the others);
* announce the execution: ``on_accepted`` runs on the loop before the tool starts, and
  the tool's thread waits for it, so that no event of the execution goes past a door
  that has not said the execution's id yet;
* deliver the call's progress and log events to ``on_event`` on the loop, in the order
  the tool reported them: in process through the service's hooks, or, for a background
  tool on a real worker, through ``events.follow`` (``ExecutionWatch``,
  opened before the task is sent, so that no event is missed);
* wait for the end of a background execution, when the door answers with the result;
* cancel: the cancel event stops an inline call at once; ``abandon`` ends a background
  execution whose caller went away, in whichever process it runs.

``EventPump`` is the ordered queue from any thread to one handler on the loop; a door
that follows executions itself (the add-in resumes them after a reconnect) uses it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Collection, Coroutine
from typing import Any

from channels.db import database_sync_to_async

from accounts.models import User
from executions import services
from executions.awaiting import ExecutionWatch, watch_for_worker
from executions.models import Session, ToolExecution
from mcpsite.handler import on_a_thread
from tools.base import ClientInput, ClientRequest

logger = logging.getLogger(__name__)

Event = dict[str, Any]
EventHandler = Callable[[Event], Awaitable[None]]
AcceptHandler = Callable[[ToolExecution], Awaitable[None]]

# How long the tool's thread waits for the loop to take the announcement: a loop that
# does not answer in that time is stuck or gone, and the call is ended as cancelled.
ANNOUNCE_SECONDS = 30.0


def on_loop[T](loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run ``coro`` on the door's loop from a tool's thread and wait for its value (the
    one way a call's thread reaches its door: announcing, asking the client)."""
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=timeout)


class EventPump:
    """Events put from any thread (or the loop) reach ``handler`` on the loop one at a
    time, in the order they were put: progress never overtakes an earlier progress, and
    the result comes after the last of them. A failing handler loses its event only."""

    def __init__(self, handler: EventHandler, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.handler = handler
        self.loop = loop or asyncio.get_running_loop()
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self.task = self.loop.create_task(self._run())

    def put_threadsafe(self, event: Event) -> None:
        """From a tool's thread: ``call_soon_threadsafe`` keeps the order of the puts."""
        # A closed loop: the door, and whoever listened, is gone.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.queue.put_nowait, event)

    async def put(self, event: Event) -> None:
        """From the loop (events a watch received from another process)."""
        self.queue.put_nowait(event)

    async def close(self) -> None:
        """Deliver what is queued, then stop."""
        self.queue.put_nowait(None)
        try:
            await asyncio.shield(self.task)
        except Exception:
            logger.debug("event pump ended with an error", exc_info=True)

    def stop(self) -> None:
        """Stop at once, dropping what is queued (the door is closing)."""
        self.task.cancel()

    async def _run(self) -> None:
        while (event := await self.queue.get()) is not None:
            try:
                await self.handler(event)
            except Exception:
                logger.exception("could not deliver an execution event")


class DoorCall:
    """One tool call of an async door. Make it on the door's loop, ``await run(...)``.

    ``on_event`` gets the call's progress and log events (None: the door follows the
    execution itself); ``on_accepted`` is told the row before the tool starts;
    ``wait_for_worker`` makes ``run`` wait for a background execution a worker runs,
    instead of returning it ``pending``.
    """

    def __init__(
        self, *, on_event: EventHandler | None = None, on_accepted: AcceptHandler | None = None,
        wait_for_worker: bool = False,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.on_event = on_event
        self.on_accepted = on_accepted
        self.wait_for_worker = wait_for_worker
        self.cancel_event = threading.Event()
        self.execution: ToolExecution | None = None  # set once announced
        self._watch: ExecutionWatch | None = None

    async def run(
        self, *, user: User | None, tool_name: str, arguments: Any, via: str, session: Session | None,
        scopes: Collection[str] | None, client_request: ClientRequest | None = None,
        client_input: ClientInput | None = None, resume: str | None = None, task_ttl_ms: int | None = None,
    ) -> ToolExecution:
        """The call's execution: final, or not final for a background tool (and, with
        ``client_input``, ``input_required``). ``task_ttl_ms`` makes the call an MCP task
        (run in the background, kept that long). Raises what ``execute_tool`` raises."""
        pump = EventPump(self.on_event, self.loop) if self.on_event is not None else None
        hooks = services.CallHooks(
            on_created=self._created, cancel_event=self.cancel_event, client_request=client_request,
            client_input=client_input,
            on_progress=pump.put_threadsafe if pump is not None else None,
            on_log=pump.put_threadsafe if pump is not None else None,
        )
        try:
            execution = await on_a_thread(
                services.execute_tool_on_pool_thread,
                user=user, tool_name=tool_name, arguments=arguments, via=via, session=session, scopes=scopes,
                hooks=hooks, resume=resume, task_ttl_ms=task_ttl_ms,
            )
            if not execution.is_final and self._watch is not None:
                execution = await self._watch.wait(pump.put if pump is not None else None, known=execution)
            return execution
        finally:
            if self._watch is not None:
                await asyncio.shield(self._watch.close())
            if pump is not None:
                await pump.close()

    def cancel(self) -> None:
        """Stop the call as it runs in this process (its thread sees the event at once)."""
        self.cancel_event.set()

    async def abandon(self, user: User | None) -> None:
        """The caller went away: stop the call, and end a background execution wherever it
        runs (by its row first, then the worker's task). Safe to call from a cancelled task."""
        self.cancel()
        if self.execution is not None:
            await asyncio.shield(database_sync_to_async(_end_background)(self.execution, user))

    def _created(self, execution: ToolExecution) -> None:
        # On the call's thread, before the tool starts (or before the task is sent).
        self.execution = execution
        # A worker will run it: follow its events before the task is sent (from this
        # thread: no hop to the loop for it).
        watch = watch_for_worker(execution) if self.wait_for_worker else None
        if watch is not None:
            watch.open_blocking()
            self._watch = watch
        if self.on_accepted is not None:  # else nothing to say: no hop to the loop
            on_loop(self.loop, self._announce(execution), timeout=ANNOUNCE_SECONDS)

    async def _announce(self, execution: ToolExecution) -> None:
        if self.on_accepted is not None:
            await self.on_accepted(execution)


def _end_background(execution: ToolExecution, user: User | None) -> None:
    # An inline call stops with its cancel event; its own thread records the cancellation.
    execution.refresh_from_db()
    if not execution.is_final and execution.mode == "background":
        services.execution_cancel(execution=execution, user=user)
