"""Pages stay usable with a long history (issue 10): 100,000 executions, every one in the
same session (what a stateless client's calls all day look like).

Before: the session's admin page rendered every execution inline (over 150 s, 154 MB of
HTML), the admin index pulled the day's rows into Python, ``/api/v1/sessions/`` counted
every execution of every session before paging. Each page must answer with a number of
queries that does not depend on the history, and a page of bounded size. (How fast they
answer is measured, not asserted: see bench/.)
"""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.services import token_create
from executions.models import Session, ToolExecution
from executions.rollup import rollup_executions
from executions.selectors import tool_call_stats

pytestmark = pytest.mark.django_db

ROWS = 100_000
TOOLS = ["text_statistics", "spell_check", "calculate", "fetch_url", "summarize"]
STATUSES = ["success"] * 8 + ["error", "timeout"]


@pytest.fixture
def history(admin_user) -> Session:
    session = Session.objects.create(user=admin_user, kind=Session.Kind.MCP, client_info={"name": "agent"})
    now = timezone.now()
    rng = random.Random(10)
    batch = []
    for n in range(ROWS):
        # Within the last 22 hours: the admin's "last 24 hours" are clock hours, so a page
        # read after the next hour began (the rows take a while to make) still holds them all.
        created = now - timedelta(seconds=rng.uniform(0, 22 * 3600))
        status = STATUSES[(n // len(TOOLS)) % len(STATUSES)]  # every tool: 8 in 10 succeed
        batch.append(ToolExecution(
            id=uuid.uuid4(), tool_name=TOOLS[n % len(TOOLS)], user=admin_user, session=session, via="mcp",
            arguments={"text": f"call {n}"}, result={"n": n} if status == "success" else None,
            status=status, mode="inline", duration_ms=n % 1000, created=created, started=created,
            finished=created + timedelta(milliseconds=n % 1000),
        ))
        if len(batch) == 5000:
            ToolExecution.objects.bulk_create(batch)
            batch = []
    ToolExecution.objects.bulk_create(batch)
    session.refresh_from_db()
    assert session.execution_count == ROWS  # counted by the database as the rows went in
    return session


def get(client, url: str, max_queries: int, max_bytes: int = 400_000):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    assert len(queries) <= max_queries, (url, len(queries), "\n".join(q["sql"][:150] for q in queries))
    assert len(response.content) <= max_bytes, (url, len(response.content))
    return response


def test_every_page_answers_with_few_queries_at_100000_executions(client, admin_user, history):
    client.force_login(admin_user)
    token = token_create(user=admin_user, name="pages")[1]

    index = get(client, "/admin/", max_queries=30).content.decode()
    assert f"Tool calls, last 24 hours ({ROWS} in all)" in index
    # The figures are the history's: each tool has a fifth of the calls, a fifth of them failed.
    assert f">{ROWS // len(TOOLS)}<" in index and ">20%<" in index
    # Rolled up (as the reaper does every few seconds), the same figures from the hours.
    live = tool_call_stats()
    assert rollup_executions(max_batches=ROWS) == ROWS
    rolled = tool_call_stats()
    assert rolled.tools == live.tools
    # Hour by hour (the window moves on if a clock hour begins meanwhile: only empty hours
    # come and go, the rows lie within the last 22).
    assert {h: (c, e) for h, c, e in rolled.hourly if c} == {h: (c, e) for h, c, e in live.hourly if c}
    assert sum(c for _, c, _ in rolled.hourly) == ROWS
    assert get(client, "/admin/", max_queries=30).content.decode().count(f">{ROWS // len(TOOLS)}<") == len(TOOLS)

    page = get(client, f"/admin/executions/session/{history.pk}/change/", max_queries=20).content.decode()
    assert f"All {ROWS} executions of this session" in page
    assert page.count("/admin/executions/toolexecution/") <= 25  # the latest 20, and the links

    listing = get(client, f"/admin/executions/toolexecution/?session__exact={history.pk}", max_queries=25)
    assert f"{ROWS} tool executions" in listing.content.decode() or f"{ROWS:,}" in listing.content.decode()
    get(client, "/admin/executions/toolexecution/?status__exact=error&tool_name=spell_check", max_queries=25)
    get(client, "/admin/executions/session/", max_queries=20)

    client.logout()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    with CaptureQueriesContext(connection) as queries:
        sessions = client.get("/api/v1/sessions/", **headers)
    assert sessions.status_code == 200 and len(queries) <= 10, [q["sql"][:120] for q in queries]
    listed = {s["id"]: s for s in sessions.json()["results"]}
    assert listed[str(history.pk)]["executions"] == ROWS
    with CaptureQueriesContext(connection) as queries:
        executions = client.get("/api/v1/executions/?tool=calculate&status=success", **headers)
    assert executions.status_code == 200 and len(queries) <= 10
    assert executions.json()["count"] == ROWS * 8 // 10 // len(TOOLS)
