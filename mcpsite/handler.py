"""Django's ASGI handler with the middleware chain and the view on one thread.

Django's ``ASGIHandler`` builds its middleware chain in async mode: every middleware that
can be async runs so, and each of its ``process_request``/``process_view``/
``process_response`` hops to a thread and back, the sync view hops again, and one
sync-only middleware (WhiteNoise, the request id) makes the rest hop back to the loop.
The hub's Django views are sync (DRF, the admin, the pages), so here the chain is built
in sync mode and the whole of it (middleware, view, rendering) runs in one hop from the
event loop per request: about a third of a cheap REST request's CPU (issue 10). An async
view would still work (Django runs it with ``async_to_sync``), at one hop back.

Django gives each request a thread of its own (a ``ThreadSensitiveContext``) and ends the
thread with the request, so every request started a thread, and on SQLite opened a
connection on it; under load the web process's memory grew with each batch of threads
(issue 10: +27 MB at 10 concurrent REST calls). Here a request's thread is a kept one,
lent to one request at a time (``RequestThreads``): still one thread for all of a
request's sync code, as Django expects, but started once and reused with its connection.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler

# Idle request threads kept for the next requests; a burst beyond it ends its extra threads.
KEEP_IDLE_THREADS = 32


class RequestThread(ThreadPoolExecutor):
    """One thread that knows when everything it was given has finished."""

    def __init__(self, on_free: Callable[[RequestThread], None]) -> None:
        super().__init__(max_workers=1, thread_name_prefix="request")
        self._on_free = on_free
        self._lock = threading.Lock()
        self._pending = 0
        self._released = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._lock:
            self._pending += 1
        future = super().submit(fn, *args, **kwargs)
        # Added before the caller's own callback (asyncio's wrap_future), so the count is
        # down before the request goes on.
        future.add_done_callback(self._finished)
        return future

    def release(self) -> None:
        """The request is over: free the thread now, or once its last call returns (a
        sync view of a request that was cancelled runs to its end)."""
        with self._lock:
            free = self._pending == 0
            self._released = not free
        if free:
            self._on_free(self)

    def _finished(self, _: Future[Any]) -> None:
        with self._lock:
            self._pending -= 1
            free = self._released and self._pending == 0
            if free:
                self._released = False
        if free:
            self._on_free(self)


class RequestThreads:
    """Request threads lent to one request at a time and kept for the next ones."""

    def __init__(self, keep_idle: int = KEEP_IDLE_THREADS) -> None:
        self._idle: list[RequestThread] = []
        self._lock = threading.Lock()
        self._keep_idle = keep_idle

    @property
    def idle(self) -> int:
        with self._lock:
            return len(self._idle)

    def lend(self) -> RequestThread:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return RequestThread(on_free=self._keep)

    def _keep(self, thread: RequestThread) -> None:
        with self._lock:
            if len(self._idle) < self._keep_idle:
                self._idle.append(thread)
                return
        thread.shutdown(wait=False)


class OneHopASGIHandler(ASGIHandler):
    _middleware_chain: Any  # set by load_middleware; django-stubs does not declare it

    def __init__(self) -> None:
        super().__init__()
        self.request_threads = RequestThreads()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        executor = self.request_threads.lend()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            executor.release()

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)
        # What get_response_async awaits: the sync chain, on the request's own thread
        # (thread_sensitive: the thread Django gives each request's sync code).
        self._middleware_chain = sync_to_async(self._middleware_chain, thread_sensitive=True)
