"""The events of 2025-11-25 SSE streams kept for Last-Event-ID (mcp_server.event_store).

A session's transport gets its own view of the process's events: it replays only that
session's, its streams (named by request ids, which every session counts alike) are its
own, and what the process holds stays within its TTL and byte budget. The transport
itself, with a real client resuming, is tested in test_tasks.py.
"""

from __future__ import annotations

import asyncio

import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from accounts.models import User
from accounts.services import token_create
from mcp_server.event_store import ProcessEvents, SessionEvents
from mcp_server.http import application as mcp_application
from mcpsite.asgi import application
from tests.processes import run_probe

pytestmark = pytest.mark.filterwarnings("error")


def result(request_id: int, text: str) -> types.JSONRPCResponse:
    return types.JSONRPCResponse(jsonrpc="2.0", id=request_id, result={"text": text})


def replay(store: SessionEvents, last_event_id: str) -> tuple[str | None, list[tuple[str, str]]]:
    """(the stream, [(event id, text)]) that a resume after ``last_event_id`` gets."""
    sent: list[tuple[str, str]] = []

    async def send(event) -> None:
        sent.append((event.event_id, event.message.result["text"]))

    stream = asyncio.run(store.replay_events_after(last_event_id, send))
    return stream, sent


def store(session: SessionEvents, stream: str, message: types.JSONRPCResponse | None) -> str:
    return asyncio.run(session.store_event(stream, message))


def test_a_resume_replays_the_later_events_of_its_own_stream_only():
    events = ProcessEvents(ttl=600, max_bytes=1 << 20)
    session = events.for_session("a")
    priming = store(session, "7", None)
    other_priming = store(session, "8", None)
    first = store(session, "7", result(7, "first"))
    store(session, "8", result(8, "of another request"))
    second = store(session, "7", result(7, "second"))

    assert replay(session, priming) == ("7", [(first, "first"), (second, "second")])
    assert replay(session, first) == ("7", [(second, "second")])
    assert replay(session, other_priming) == ("8", [(str(int(first) + 1), "of another request")])


def test_a_session_gets_nothing_of_another_sessions_events_with_the_same_request_id():
    events = ProcessEvents(ttl=600, max_bytes=1 << 20)
    owner, other = events.for_session("owner"), events.for_session("other")
    owners_priming = store(owner, "1", None)
    others_priming = store(other, "1", None)
    store(owner, "1", result(1, "the owner's"))
    own = store(other, "1", result(1, "its own"))

    # Another session's event id (ids are easy to guess) is unknown here.
    assert replay(other, owners_priming) == (None, [])
    # Its own stream "1" holds its own events, not the owner's stream "1".
    assert replay(other, others_priming) == ("1", [(own, "its own")])
    assert replay(owner, owners_priming)[1] == [(str(int(own) - 1), "the owner's")]


def test_the_session_managers_own_store_replays_nothing():
    # A transport that kept the manager's store (not given its session's) must not replay
    # what another such transport stored.
    unscoped = ProcessEvents(ttl=600, max_bytes=1 << 20).for_session("")
    priming = store(unscoped, "1", None)
    store(unscoped, "1", result(1, "anyone's"))

    assert replay(unscoped, priming) == (None, [])


def test_unknown_and_malformed_event_ids_replay_nothing():
    session = ProcessEvents(ttl=600, max_bytes=1 << 20).for_session("a")
    store(session, "1", None)

    assert replay(session, "999") == (None, [])
    assert replay(session, "not-a-number") == (None, [])
    assert replay(session, "-1") == (None, [])
    assert replay(session, "²") == (None, [])  # a digit to str.isdigit, not to int()
    assert replay(session, "9" * 5000) == (None, [])  # past int()'s 4,300 digits


def test_events_expire_after_the_ttl(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr("mcp_server.event_store.time.monotonic", lambda: now[0])
    events = ProcessEvents(ttl=60, max_bytes=1 << 20)
    session = events.for_session("a")
    priming = store(session, "1", None)
    store(session, "1", result(1, "answer"))

    now[0] += 59
    assert replay(session, priming)[1] != []
    now[0] += 2
    assert replay(session, priming) == (None, [])
    assert events.size == 0


def test_the_oldest_events_go_when_the_process_holds_its_byte_budget():
    # Room for about three and a half of the five sessions' events (each about 3,100 bytes
    # with their bookkeeping).
    events = ProcessEvents(ttl=600, max_bytes=12_000)
    sessions = [events.for_session(f"s{n}") for n in range(5)]
    primings = [store(session, "1", None) for session in sessions]
    for session in sessions:
        store(session, "1", result(1, "x" * 1500))

    assert events.size <= 12_000
    # The first session's stream went first; the last one's is whole.
    assert replay(sessions[0], primings[0]) == (None, [])
    assert replay(sessions[-1], primings[-1])[1][0][1] == "x" * 1500


# Each workload fills a store well past a 256 KB budget in a fresh process (no other
# test's objects, threads or garbage in the measurement) and prints the bytes that the
# store's code allocated and still holds (tracemalloc), and the bytes the store counts.
MEMORY_PROBE = """
import tracemalloc
import django
django.setup()
import mcp_types as types
from mcp_server import event_store
from mcp_server.event_store import ProcessEvents

def result(n, text):
    return types.JSONRPCResponse(jsonrpc="2.0", id=n, result={{"text": text}})

def progress(n):
    return types.JSONRPCNotification(jsonrpc="2.0", method="notifications/progress",
                                     params={{"progressToken": 1, "progress": n}})

def fill(events, n):
    workload = {workload!r}
    if workload == "calls":  # many calls of a few sessions: a priming event and a response
        for message in (None, result(n, "x" * 300)):
            events.add(f"s{{n % 20}}", str(n), message)
    elif workload == "sessions":  # a session per request
        events.add(f"session-{{n}}", "1", None)
    elif workload == "progress":  # one long stream of progress notifications
        events.add("s", "1", progress(n))
    else:  # text that Python holds at 2 to 4 bytes a character
        for message in (None, result(n, "日本語のテキスト" * 40)):
            events.add("s", str(n), message)

budget = 256 * 1024
tracemalloc.start()
events = ProcessEvents(ttl=600, max_bytes=budget)
for n in range(budget // 50):
    fill(events, n)
snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(True, event_store.__file__)])
print(sum(stat.size for stat in snapshot.statistics("filename")), events.size, budget)
"""


@pytest.mark.parametrize("workload", ["calls", "sessions", "progress", "non-ascii"])
def test_what_the_process_holds_in_memory_stays_within_the_byte_budget(workload, tmp_path):
    """The budget counts what the events take in memory, bookkeeping included: with a
    per-event guess of 300 bytes and a deque per stream, a full 8 MB store held 16 MB, and
    up to 5x its budget when each session made one request."""
    held, counted, budget = map(int, run_probe(MEMORY_PROBE.format(workload=workload), tmp_path).split())

    assert counted > 0.9 * budget  # full
    assert held <= 1.1 * budget, f"{held} bytes held for a budget of {budget}"


def test_a_session_that_ends_leaves_nothing_behind():
    events = ProcessEvents(ttl=600, max_bytes=1 << 20)
    ended, open_ = events.for_session("ended"), events.for_session("open")
    ended_priming = store(ended, "1", None)
    store(ended, "1", result(1, "gone"))
    open_priming = store(open_, "1", None)
    store(open_, "1", result(1, "kept"))
    kept = events.size

    events.forget("ended")

    assert replay(ended, ended_priming) == (None, [])
    assert replay(open_, open_priming)[1][0][1] == "kept"
    assert 0 < events.size < kept
    events.forget("open")
    assert events.size == 0


@pytest.mark.django_db(transaction=True)
def test_a_session_keeps_its_events_while_it_is_open_and_they_go_when_it_ends():
    """Through the hub's ASGI app (as daphne serves it) with the official SDK client."""
    user = User.objects.create_user(username="alice", password="pw-alice-123")
    token = token_create(user=user, name="events")[1]
    events = mcp_application.events

    async def scenario() -> tuple[int, int, int]:
        before = events.size
        http = httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=application), base_url="http://127.0.0.1:8000",
            headers={"Authorization": f"Bearer {token}"}, timeout=30,
        )
        async with Client(streamable_http_client("http://127.0.0.1:8000/mcp", http_client=http), mode="legacy") as c:
            result = await c.call_tool("text_statistics", {"text": "One sentence here. And another one."})
            assert not result.is_error
            during = events.size
        return before, during, events.size  # the client's DELETE ended the session

    before, during, after = asyncio.run(scenario())

    assert during > before
    assert after == before
