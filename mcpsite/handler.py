"""Django's ASGI handler with a request's Django work in one hop from the event loop.

Django's ``ASGIHandler`` builds its middleware chain in async mode: every middleware that
can be async runs so, and each of its ``process_request``/``process_view``/
``process_response`` hops to a thread and back, the sync view hops again, and one
sync-only middleware (WhiteNoise, the request id) makes the rest hop back to the loop.
Around the chain it hops twice more: to send ``request_started`` and, once the response
is sent, to close it (``request_finished``). The hub's Django views are sync (DRF, the
admin, the pages), so here the chain is built in sync mode, and the signal, the request,
the chain (middleware, view, rendering) and the closing of a response whose content is
already in memory run in one hop per request (issue 10: each hop costs a thread switch
each way; a REST call took 3, the chain in async mode 8 and one back). A streaming
response (a static file, say) is closed after it is sent, as Django does. An async view
would still work (Django runs it with ``async_to_sync``), at one hop back.

Django gives each request a thread of its own (a ``ThreadSensitiveContext``) and ends the
thread with the request, so every request started a thread, and on SQLite opened a
connection on it; under load the web process's memory grew with each batch of threads
(issue 10: +27 MB at 10 concurrent REST calls). Here a request's thread is a kept one,
lent to one request at a time (``RequestThreads``): still one thread for all of a
request's sync code, as Django expects, but started once and reused with its connection.
Closing the response before it is sent also frees the thread before the client can send
its next request; closed after, the next request on the connection came while the
thread was still closing, and the kept threads settled at twice the concurrency.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import FileResponse, HttpResponseBase
from django.urls import set_script_prefix

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
        sync view of a request that was cancelled runs to its end). Once per lending."""
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


# The process's kept threads: Django's requests and the async doors' tool calls
# (executions.calls) borrow from the same ones, so that a process serving both keeps
# about as many threads as it has requests and calls at once, not the sum of two pools.
shared_threads = RequestThreads()


async def on_a_thread[T](function: Callable[..., T], **kwargs: Any) -> T:
    """``function(**kwargs)``, which blocks, on a kept thread (``shared_threads``, lent to
    one call at a time), not on the event loop's default executor: that has
    ``os.cpu_count() + 4`` threads, and that many slow calls (a tool call that runs to its
    time limit, a question waiting for a person's answer) held every later one of every
    user until one ended. After a burst, the threads beyond those kept idle end."""
    thread = shared_threads.lend()
    try:
        return await sync_to_async(function, thread_sensitive=False, executor=thread)(**kwargs)
    finally:
        thread.release()  # at once, or when a cancelled call's function returns


class OneHopASGIHandler(ASGIHandler):
    def __init__(self, request_threads: RequestThreads | None = None) -> None:
        super().__init__()
        self.request_threads = request_threads if request_threads is not None else RequestThreads()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        executor = self.request_threads.lend()
        released = False

        def release() -> None:
            # Once: the thread may be lent to another request as soon as it is released.
            nonlocal released
            if not released:
                released = True
                executor.release()

        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send, release)
        finally:
            release()

    def load_middleware(self, is_async: bool = False) -> None:
        # The sync chain: ``serve`` calls it on the request's thread (BaseHandler.get_response).
        super().load_middleware(is_async=False)

    def serve(self, scope: dict[str, Any], body_file: Any, served: dict[str, HttpResponseBase]) -> HttpResponseBase:
        """A request's Django work, on its thread: ``request_started``, the request, the
        chain and the view, and closing a response whose content is in memory."""
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        response = self.get_response(request) if request is not None else error_response
        assert response is not None  # create_request gives a request or the response to it
        response._handler_class = self.__class__  # type: ignore[attr-defined]  # as Django's handle
        # ASGI servers chunk a file's content themselves (Django's handle does the same).
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size
        served["response"] = response
        if not response.streaming:
            response.close()  # request_finished; the content is sent from memory
        return response

    async def handle(
        self, scope: dict[str, Any], receive: Any, send: Any, release_thread: Callable[[], None] | None = None
    ) -> None:
        """Django's ``handle`` (which this follows: a disconnect cancels the request, the
        response is closed once) with the request's Django work in one hop (``serve``).
        A response closed in the hop frees the request's thread at once (``release_thread``),
        before the sending: nothing of the request runs on it after that."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        served: dict[str, HttpResponseBase] = {}

        async def process_request() -> HttpResponseBase:
            response = await sync_to_async(self.serve, thread_sensitive=True)(scope, body_file, served)
            if release_thread is not None and not response.streaming:
                release_thread()
            with contextlib.suppress(asyncio.CancelledError):  # the client left during the sending
                await self.send_response(response, send)
            return response

        # In Django's order: the listener first, as it must not raise what would keep the
        # serving task from being cancelled.
        listening = asyncio.create_task(self.listen_for_disconnect(receive))
        serving = asyncio.create_task(process_request())
        tasks = [listening, serving]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done():
                try:
                    task.result()
                except RequestAborted:
                    pass
                except AssertionError:
                    body_file.close()
                    raise
            else:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

        try:
            response = serving.result()
        except asyncio.CancelledError:
            # The client went away during the hop. ``serve`` runs to its end on the request's
            # thread (or never started); this runs there after it and finishes what it left.
            await sync_to_async(self._finish_abandoned, thread_sensitive=True)(served)
        else:
            if response.streaming:
                await sync_to_async(response.close, thread_sensitive=True)()
        body_file.close()

    def _finish_abandoned(self, served: dict[str, HttpResponseBase]) -> None:
        response = served.get("response")
        if response is None:
            signals.request_finished.send(sender=self.__class__)
        elif response.streaming:
            response.close()
