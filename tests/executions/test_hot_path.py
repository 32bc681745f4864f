"""What one tool call costs the database, through each door (issue 10).

After a first call has warmed the process (token check, tool configuration, session), a
call of an inline tool runs at most ``BUDGET`` SQL statements: the execution's INSERT and
its UPDATE at the end (the session's activity is written at most once a minute), and
opens no database connection. (Before issue 10: 11 statements for a REST call, 17
transactions for a stateless MCP call.) The record stays complete: user, session, arguments,
result, status and duration.

The statements are counted with a spy on Django's ``CursorWrapper`` rather than
``CaptureQueriesContext``: a call runs on pool threads, and ``CaptureQueriesContext``
sees only the current thread's connection. Both databases: the embedded SQLite here,
PostgreSQL in CI's second pass (``DATABASE_URL``).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import httpx2
import pytest
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.db.backends.signals import connection_created
from django.db.backends.utils import CursorWrapper
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from accounts.models import User
from accounts.services import token_create
from executions.models import Session, ToolExecution
from mcpsite import processcache
from mcpsite.asgi import application
from tools.federation.hub import federation
from tools.models import ToolConfig

pytestmark = pytest.mark.django_db(transaction=True)

BUDGET = 2
# A different text each call: text_statistics is cacheable, and a cache hit runs no tool.
TEXTS = [f"Call {n} is short. Long ones, with clauses and asides, rarely do." for n in range(2)]


class Statements:
    def __init__(self) -> None:
        self.sql: list[str] = []
        self.connections = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.sql)

    def __str__(self) -> str:
        return "\n".join(self.sql)


# Threads that work on their own clock, not for a call: the reaper's sweep and the
# federation monitor's look at the rows may fall inside a counted call by chance.
BACKGROUND_THREADS = ("execution-reaper", "federation-")


def _for_the_call() -> bool:
    return not threading.current_thread().name.startswith(BACKGROUND_THREADS)


@contextmanager
def counted() -> Iterator[Statements]:
    """Every SQL statement any thread of this process runs for the call, and the connections opened."""
    seen = Statements()
    execute, executemany = CursorWrapper.execute, CursorWrapper.executemany

    def spy_execute(self, sql, params=None):
        if _for_the_call():
            with seen._lock:
                seen.sql.append(sql)
        return execute(self, sql, params)

    def spy_executemany(self, sql, param_list):
        if _for_the_call():
            with seen._lock:
                seen.sql.append(sql)
        return executemany(self, sql, param_list)

    def opened(**kwargs):
        if _for_the_call():
            with seen._lock:
                seen.connections += 1

    pool = getattr(connection, "pool", None)
    pool_before = pool.get_stats().get("connections_num", 0) if pool is not None else 0
    connection_created.connect(opened, weak=False)
    try:
        with mock.patch.object(CursorWrapper, "execute", spy_execute), \
                mock.patch.object(CursorWrapper, "executemany", spy_executemany):
            yield seen
    finally:
        connection_created.disconnect(opened)
    if pool is not None:
        # A pooled connection is "created" for Django each time it is taken: what counts
        # is whether the pool had to open a new one.
        seen.connections = pool.get_stats().get("connections_num", 0) - pool_before


@pytest.fixture(autouse=True)
def no_look_for_remote_servers_falls_due():
    """With no remote server stored, a registry read looks for new ones every
    FEDERATION_RELOAD_INTERVAL seconds (one SELECT, on whichever thread reads). A look
    that falls due between a test's warm-up and its counted call is not the call's cost;
    before, it made these tests fail now and then."""
    hub = federation()
    next_look = hub.next_look
    hub.next_look = time.monotonic() + 3600
    yield
    hub.next_look = next_look


@pytest.fixture
def alice() -> tuple[User, str]:
    user = User.objects.create_user(username="alice", password="pw-alice-123")
    return user, token_create(user=user, name="hot path")[1]


def assert_recorded(user: User, via: str, count: int) -> None:
    rows = list(ToolExecution.objects.filter(user=user, via=via).order_by("created"))
    assert len(rows) == count
    for row, text in zip(rows, TEXTS, strict=True):
        assert row.status == ToolExecution.Status.SUCCESS and not row.cache_hit
        assert row.session_id is not None
        assert row.arguments == {"text": text}
        assert row.result["sentences"] == 2
        assert row.duration_ms is not None and row.finished is not None


def test_a_rest_call_runs_two_statements_once_warm(alice, client):
    user, token = alice
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    url = "/api/v1/tools/text_statistics/execute/"
    first, second = (json.dumps({"arguments": {"text": text}}) for text in TEXTS)
    assert client.post(url, first, content_type="application/json", **headers).status_code == 200

    with counted() as statements:
        response = client.post(url, second, content_type="application/json", **headers)

    assert response.status_code == 200
    assert len(statements) <= BUDGET, str(statements)
    assert statements.connections == 0
    assert_recorded(user, "api", 2)
    assert Session.objects.filter(user=user, kind=Session.Kind.API).count() == 1


def test_a_rest_request_takes_one_hop_from_the_event_loop(alice):
    """Served as daphne serves it (the ASGI app), a REST call crosses from the event loop
    to a thread once for the request_started signal, the whole middleware chain and view,
    and closing the response (mcpsite/handler.py), and never back. With Django's handler it
    took 3 (the signal and the closing apart), with the chain in async mode 8 and one back."""
    from asgiref.sync import AsyncToSync, SyncToAsync

    user, token = alice
    hops = {"to_thread": 0, "to_loop": 0}
    to_thread, to_loop = SyncToAsync.__call__, AsyncToSync.__call__

    async def count_to_thread(self, *args, **kwargs):
        hops["to_thread"] += 1
        return await to_thread(self, *args, **kwargs)

    def count_to_loop(self, *args, **kwargs):
        hops["to_loop"] += 1
        return to_loop(self, *args, **kwargs)

    async def scenario() -> list[int]:
        statuses = []
        async with httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=application), base_url="http://127.0.0.1:8000",
            headers={"Authorization": f"Bearer {token}"}, timeout=30,
        ) as http:
            for text in TEXTS:
                if text == TEXTS[1]:
                    hops.update(to_thread=0, to_loop=0)
                response = await http.post("/api/v1/tools/text_statistics/execute/", json={"arguments": {"text": text}})
                statuses.append(response.status_code)
        return statuses

    with mock.patch.object(SyncToAsync, "__call__", count_to_thread), \
            mock.patch.object(AsyncToSync, "__call__", count_to_loop):
        assert asyncio.run(scenario()) == [200, 200]
    assert hops == {"to_thread": 1, "to_loop": 0}
    assert_recorded(user, "api", 2)


def mcp_client(token: str, mode: str) -> Client:
    http = httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=application), base_url="http://127.0.0.1:8000",
        headers={"Authorization": f"Bearer {token}"}, timeout=30,
    )
    return Client(streamable_http_client("http://127.0.0.1:8000/mcp", http_client=http), mode=mode)


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])  # legacy: 2025-11-25, a session
def test_an_mcp_call_runs_two_statements_once_warm(alice, mode):
    user, token = alice

    async def scenario() -> tuple[Statements, bool]:
        async with mcp_client(token, mode) as client:
            await client.call_tool("text_statistics", {"text": TEXTS[0]})
            with counted() as statements:
                result = await client.call_tool("text_statistics", {"text": TEXTS[1]})
        return statements, result.is_error

    statements, is_error = asyncio.run(scenario())

    assert not is_error
    # A 2025-11-25 session's SSE events (kept for Last-Event-ID) stay in the web process's
    # memory, where the session lives: no write of their own.
    assert len(statements) <= BUDGET, str(statements)
    assert statements.connections == 0
    assert_recorded(user, "mcp", 2)
    assert Session.objects.filter(user=user, kind=Session.Kind.MCP).count() == 1


def test_a_websocket_call_runs_two_statements_once_warm(alice):
    user, token = alice

    async def call(communicator: WebsocketCommunicator, request_id: str, text: str) -> dict:
        await communicator.send_json_to(
            {"type": "tool_execute", "id": request_id, "tool": "text_statistics", "arguments": {"text": text}}
        )
        while True:
            frame = await communicator.receive_json_from(timeout=10)
            if frame["type"] in ("execution_result", "error"):
                return frame

    async def scenario() -> tuple[Statements, dict]:
        communicator = WebsocketCommunicator(application, "/ws/addin/", headers=[(b"origin", b"http://127.0.0.1:8000")])
        assert (await communicator.connect(timeout=10))[0]
        await communicator.send_json_to({"type": "auth", "token": token, "client": "tests"})
        assert (await communicator.receive_json_from(timeout=10))["type"] == "authenticated"
        await call(communicator, "warm", TEXTS[0])
        with counted() as statements:
            frame = await call(communicator, "counted", TEXTS[1])
        await communicator.disconnect()
        return statements, frame

    statements, frame = asyncio.run(scenario())

    assert frame["type"] == "execution_result" and frame["status"] == "success", frame
    assert len(statements) <= BUDGET, str(statements)
    assert statements.connections == 0
    assert_recorded(user, "ws", 2)


def test_a_change_in_another_process_reaches_this_ones_cache(alice, client):
    """The caches are honest: a tool disabled, or a token deleted, where this process
    sent no signal (another process: only the stamp file tells) is seen on the next call."""
    user, token = alice
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    url = "/api/v1/tools/text_statistics/execute/"
    body = json.dumps({"arguments": {"text": TEXTS[0]}})
    assert client.post(url, body, content_type="application/json", **headers).status_code == 200

    # What another process's change leaves here: the rows change without this process's
    # signals, and the shared stamp file is replaced.
    ToolConfig.objects.bulk_create([ToolConfig(tool_name="text_statistics", enabled=False)])
    processcache._replace_stamp()
    assert client.post(url, body, content_type="application/json", **headers).status_code == 404

    ToolConfig.objects.filter(tool_name="text_statistics").delete()  # signals: this process
    assert client.post(url, body, content_type="application/json", **headers).status_code == 200
    from accounts.models import APIToken

    APIToken.objects.filter(user=user)._raw_delete(APIToken.objects.db)  # no signal
    processcache._replace_stamp()
    assert client.post(url, body, content_type="application/json", **headers).status_code == 401
