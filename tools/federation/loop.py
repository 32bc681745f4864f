"""The federation's event loop: one long-lived asyncio loop on a thread of its own.

An MCP client session is bound to the event loop it was opened on, so every session
of this process lives on this one loop. Tool runs (on the execution service's runner
threads), syncs and sign-ins submit coroutines to it and wait.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Seconds the shutdown waits for cancelled calls and handshakes to clean up.
SHUTDOWN_WAIT_SECONDS = 5.0


class FederationLoop:
    """The loop thread, started on first use (and again after ``stop``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or not self._loop.is_running():
                loop = asyncio.new_event_loop()
                started = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(started.set)
                    try:
                        loop.run_forever()
                    finally:
                        # Closed here, not by the garbage collector at some later point.
                        loop.close()

                self._thread = threading.Thread(target=run, name="federation-loop", daemon=True)
                self._thread.start()
                started.wait()
                self._loop = loop
            return self._loop

    def running(self) -> bool:
        return self._loop is not None and self._loop.is_running()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the loop; the returned future can be cancelled."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop())

    def run_sync(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on the loop and wait for it (never call from the loop)."""
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no answer within {timeout:g} s") from None

    def stop(self, closing: Coroutine[Any, Any, Any], timeout: float = 15.0) -> None:
        """Run ``closing`` (which closes the pools), end every other task on the loop, then
        stop and close the loop. ``closing`` is closed unrun if the loop is not running."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or not loop.is_running():
            closing.close()
            return
        try:
            asyncio.run_coroutine_threadsafe(_close_then_cancel_the_rest(closing), loop).result(timeout)
        except Exception:
            logger.warning("federation pools did not close cleanly", exc_info=True)
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout)


async def _close_then_cancel_the_rest(closing: Coroutine[Any, Any, Any]) -> None:
    await closing
    # Whatever still runs (calls, handshakes, the idle sweeper) ends now; their waiters
    # see a cancellation. Their cleanup runs before the loop stops (a session's own
    # shutdown is shielded and bounded in the SDK).
    current = asyncio.current_task()
    rest = [task for task in asyncio.all_tasks() if task is not current]
    for task in rest:
        task.cancel()
    if rest:
        await asyncio.wait(rest, timeout=SHUTDOWN_WAIT_SECONDS)
