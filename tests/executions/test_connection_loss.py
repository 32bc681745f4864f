"""A call whose PostgreSQL connection is lost after its row was written (issue 16: a
restart, a failover) never leaves the row pending or running with no one to finish it.

The loss is real and falls at one chosen statement: a Django execute wrapper has the
server terminate this connection's backend (``pg_terminate_backend`` from a second
connection, waiting until the backend is gone) just before that statement is sent.
PostgreSQL only: CI's second pass (``DATABASE_URL``); the embedded run skips these.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
import pytest
from django.db import connection

from accounts.models import User
from executions import services
from executions.models import Session, ToolExecution

pytestmark = pytest.mark.django_db(transaction=True)
Status = ToolExecution.Status


@pytest.fixture(autouse=True)
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL): SQLite has no connection to lose")


@contextmanager
def connection_lost_before(matches: Callable[[str], bool]) -> Iterator[list[str]]:
    """Terminate this thread's connection just before the first statement that ``matches``."""
    settings = connection.get_connection_params()
    cut: list[str] = []

    def wrapper(execute, sql, params, many, context):
        if not cut and matches(sql):
            cut.append(sql)
            pid = context["connection"].connection.info.backend_pid
            with psycopg.connect(**{k: v for k, v in settings.items() if k in ("host", "port", "user", "dbname")},
                                 autocommit=True) as admin:
                assert admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,)).fetchone()[0]
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield cut


@pytest.fixture
def alice() -> tuple[User, Session]:
    user = User.objects.create_user(username="alice", password="pw-alice-123")
    return user, services.session_start(user=user, kind=Session.Kind.API)


def call(user: User, session: Session, text: str) -> ToolExecution:
    return services.execute_tool(user=user, tool_name="text_statistics", arguments={"text": text}, via="api",
                                 session=session)


def test_a_connection_lost_after_the_insert_ends_the_row_as_error(alice):
    # An inline call runs no statement between its INSERT and its end (the session count
    # is a trigger's); a background call runs one, the claim that moves the row from
    # pending to running (here in the eager task, whose failure ends the row).
    user, session = alice
    lost_at_the_claim = connection_lost_before(
        lambda sql: sql.startswith('UPDATE "executions_toolexecution"') and '"started"' in sql
    )
    with lost_at_the_claim as cut:
        services.execute_tool(user=user, tool_name="analyze_document", arguments={"text": "Lost at the claim."},
                              via="api", session=session)
    assert cut  # the connection was cut where the test meant
    row = ToolExecution.objects.get(user=user)
    assert row.status == Status.ERROR and row.finished is not None and row.duration_ms is not None
    assert "OperationalError" in row.error
    # The process goes on with fresh connections.
    assert call(user, session, "The next call.").status == Status.SUCCESS


def test_a_connection_lost_as_the_call_finishes_keeps_the_result(alice):
    user, session = alice
    with connection_lost_before(
        lambda sql: sql.startswith('UPDATE "executions_toolexecution"') and '"result"' in sql
    ) as cut:
        execution = call(user, session, "Lost at the end. The result stays.")
    assert cut
    assert execution.status == Status.SUCCESS
    row = ToolExecution.objects.get(pk=execution.pk)
    assert row.status == Status.SUCCESS and row.result["sentences"] == 2 and row.finished is not None
    # The process goes on with fresh connections.
    assert call(user, session, "The next call.").status == Status.SUCCESS
