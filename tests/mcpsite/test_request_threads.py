"""The web process lends each request a kept thread instead of starting one per request."""

from __future__ import annotations

import asyncio
import threading

from asgiref.sync import ThreadSensitiveContext, sync_to_async

from mcpsite.handler import RequestThreads


async def _request(threads: RequestThreads, work) -> object:
    executor = threads.lend()
    try:
        async with ThreadSensitiveContext(executor=executor):
            return await sync_to_async(work)()
    finally:
        executor.release()


async def test_it_runs_one_request_after_another_on_the_same_kept_thread():
    threads = RequestThreads()
    first = await _request(threads, threading.get_ident)
    second = await _request(threads, threading.get_ident)
    assert first == second != threading.get_ident()


async def test_it_gives_concurrent_requests_threads_of_their_own():
    threads = RequestThreads()
    both_in = threading.Barrier(2, timeout=10)

    def work() -> int:
        both_in.wait()  # each waits for the other: one shared thread would never get here twice
        return threading.get_ident()

    first, second = await asyncio.gather(_request(threads, work), _request(threads, work))
    assert first != second


async def test_it_lends_a_cancelled_requests_thread_again_only_once_its_view_has_returned():
    threads = RequestThreads()
    view_may_end = threading.Event()
    view_threads: list[int] = []

    def slow_view() -> None:
        view_threads.append(threading.get_ident())
        view_may_end.wait(10)

    request = asyncio.ensure_future(_request(threads, slow_view))
    while not view_threads:  # noqa: ASYNC110 (the view's thread appends; no event to await)
        await asyncio.sleep(0.01)
    request.cancel()  # the client went away; the sync view still runs on its thread
    await asyncio.gather(request, return_exceptions=True)

    # A request while that view runs gets another thread, not one still busy.
    other = await _request(threads, threading.get_ident)
    assert other != view_threads[0]

    assert threads.idle == 1  # the other request's thread; the view's is still busy
    view_may_end.set()
    for _ in range(200):
        if threads.idle == 2:
            break
        await asyncio.sleep(0.05)
    both_in = threading.Barrier(2, timeout=10)

    def work() -> int:
        both_in.wait()
        return threading.get_ident()

    # Its view returned: the thread is lent again (two requests, no new thread).
    used = set(await asyncio.gather(_request(threads, work), _request(threads, work)))
    assert used == {view_threads[0], other}
