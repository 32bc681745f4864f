"""The web process's Django handler (mcpsite/handler.py): a request's Django work in one hop,
and Django's signals once each, in Django's order, whatever the response or the client does."""

from __future__ import annotations

import asyncio
import threading

import pytest
from django.core import signals
from django.http import HttpResponse, StreamingHttpResponse
from django.test import override_settings
from django.urls import path

from mcpsite.handler import OneHopASGIHandler

view_started = threading.Event()
view_may_end = threading.Event()


def plain(request):
    return HttpResponse(b"plain")


def streaming(request):
    async def parts():
        yield b"one"
        yield b"two"

    return StreamingHttpResponse(parts())


def slow(request):
    view_started.set()
    view_may_end.wait(10)
    return HttpResponse(b"late")


urlpatterns = [path("plain", plain), path("streaming", streaming), path("slow", slow)]


@pytest.fixture
def seen():
    """What happened, in order: the signals (with the thread they ran on) and the ASGI messages sent."""
    events: list[tuple[str, int]] = []

    def started(**kwargs):
        events.append(("request_started", threading.get_ident()))

    def finished(**kwargs):
        events.append(("request_finished", threading.get_ident()))

    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    view_started.clear()
    view_may_end.clear()
    with override_settings(ROOT_URLCONF=__name__):
        yield events
    signals.request_started.disconnect(started)
    signals.request_finished.disconnect(finished)


def scope(path_: str) -> dict:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path_, "raw_path": path_.encode(), "query_string": b"", "root_path": "", "headers": [],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
    }


async def serve(
    handler: OneHopASGIHandler, path_: str, events: list, disconnect: asyncio.Event | None = None,
    answered: asyncio.Event | None = None, body_sent: asyncio.Event | None = None,
) -> None:
    """One request; ``answered`` is set when the last of the response's body is sent; the
    request's body arrives once ``body_sent`` is set."""
    requested = False

    async def receive() -> dict:
        nonlocal requested
        if not requested:
            requested = True
            if body_sent is not None:
                await body_sent.wait()
            return {"type": "http.request", "body": b"", "more_body": False}
        await (disconnect.wait() if disconnect is not None else asyncio.Event().wait())
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        events.append((message["type"], threading.get_ident()))
        if answered is not None and message["type"] == "http.response.body" and not message.get("more_body"):
            answered.set()

    await handler(scope(path_), receive, send)


def names(events: list) -> list[str]:
    return [name for name, _ in events]


async def test_a_response_in_memory_is_closed_in_the_requests_hop_before_it_is_sent(seen):
    """request_started, the view and request_finished run on the request's thread in one
    hop; the loop then sends what is already complete."""
    await serve(OneHopASGIHandler(), "/plain", seen)

    assert names(seen) == ["request_started", "request_finished", "http.response.start", "http.response.body"]
    (_, started), (_, finished), (_, sent), _ = seen
    assert started == finished != sent  # the request's thread; the sending on the loop's


async def test_a_streaming_response_is_closed_once_after_it_is_sent(seen):
    await serve(OneHopASGIHandler(), "/streaming", seen)

    assert names(seen) == [
        "request_started", "http.response.start", "http.response.body", "http.response.body",
        "http.response.body", "request_finished",
    ]
    assert seen[0][1] == seen[-1][1]  # request_finished on the request's thread too


async def test_a_client_gone_during_the_view_ends_it_once_after_the_view_returns(seen):
    """Django cancels the request when its client disconnects; the sync view runs to its
    end on its thread, then request_finished runs there once, and nothing is sent."""
    handler = OneHopASGIHandler()
    disconnect = asyncio.Event()
    request = asyncio.create_task(serve(handler, "/slow", seen, disconnect))
    while not view_started.is_set():  # noqa: ASYNC110 (the view's thread sets it)
        await asyncio.sleep(0.01)
    disconnect.set()
    for _ in range(100):  # the handler stops waiting for the response
        await asyncio.sleep(0.01)
        if request.done():
            break
    assert names(seen) == ["request_started"]

    view_may_end.set()
    await request
    for _ in range(200):
        if "request_finished" in names(seen):
            break
        await asyncio.sleep(0.05)
    assert names(seen) == ["request_started", "request_finished"]
    assert seen[0][1] == seen[1][1]
    await asyncio.sleep(0.2)
    assert names(seen) == ["request_started", "request_finished"]  # once


async def test_concurrent_clients_keep_about_as_many_threads_as_they_are(seen):
    """Freed before its response is sent, a request's thread is free again when its client
    has the response and sends the next request: ten clients, each sending a request as
    soon as it has the answer to the last, are served by ten kept threads. (Closed after
    the sending, the thread was still busy closing when the next request came: up to
    twenty threads.)"""
    handler = OneHopASGIHandler()
    requests: list[asyncio.Task] = []

    async def client() -> None:
        for _ in range(20):
            answered = asyncio.Event()
            requests.append(asyncio.create_task(serve(handler, "/plain", [], answered=answered)))
            await answered.wait()  # the next request goes as the answer arrives, as over a socket

    await asyncio.gather(*(client() for _ in range(10)))
    await asyncio.gather(*requests)
    threads = {ident for name, ident in seen if name == "request_started"}
    assert len(threads) <= 10
    assert handler.request_threads.idle == len(threads)


async def test_a_thread_freed_early_is_not_freed_again_once_the_next_request_has_it(seen):
    """The first request frees its thread before its response is sent, and ends after. Its
    end must not free the thread again: the next request may have it by then (here, while
    its body is still coming), and a third request would be given the same thread."""
    handler = OneHopASGIHandler()
    answered, body_sent = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(serve(handler, "/plain", [], answered=answered))
    await answered.wait()  # the first request's thread is free; its handler is still ending
    second = asyncio.create_task(serve(handler, "/plain", [], body_sent=body_sent))
    await asyncio.sleep(0.05)  # the second request has the thread and waits for its body
    await first
    await serve(handler, "/plain", [])  # the third
    body_sent.set()
    await second

    first_thread, third_thread, second_thread = (ident for name, ident in seen if name == "request_started")
    assert second_thread == first_thread != third_thread
