"""A session's ``execution_count`` is kept by the database (migration 0008's triggers):
every execution recorded in the session counts, through the service or any other INSERT,
and a deleted one no longer does. The service runs no statement of its own for it
(``test_hot_path`` counts the statements). Both databases: SQLite here, PostgreSQL in
CI's second pass."""

from __future__ import annotations

import pytest

from accounts.models import User
from executions.models import Session, ToolExecution
from executions.policy import ToolNotFound
from executions.services import execute_tool

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def user() -> User:
    return User.objects.create_user(username="carol", password="pw-carol-123")


def count(session: Session) -> int:
    session.refresh_from_db()
    return session.execution_count


def call(user: User, session: Session | None, text: str) -> ToolExecution:
    return execute_tool(user=user, tool_name="text_statistics", arguments={"text": text}, via="api",
                        session=session)


def test_each_recorded_call_counts_once_a_cache_hit_too_a_refused_one_not(user):
    session = Session.objects.create(user=user, kind=Session.Kind.API)
    other = Session.objects.create(user=user, kind=Session.Kind.API)
    call(user, session, "One sentence here.")
    call(user, session, "One sentence here.")  # answered from the cache: still a recorded call
    assert ToolExecution.objects.filter(session=session, cache_hit=True).count() == 1
    call(user, session, "Another text.")
    call(user, None, "A call in no session.")
    with pytest.raises(ToolNotFound):
        execute_tool(user=user, tool_name="no_such_tool", arguments={}, via="api", session=session)
    assert count(session) == 3 == session.executions.count()
    assert count(other) == 0


def test_rows_inserted_in_bulk_count_per_session(user):
    first = Session.objects.create(user=user, kind=Session.Kind.MCP)
    second = Session.objects.create(user=user, kind=Session.Kind.MCP)
    rows = [
        ToolExecution(tool_name="text_statistics", user=user, session=session, via="mcp", arguments={}, mode="inline")
        for session in [first] * 5 + [second] * 2 + [None] * 3
    ]
    ToolExecution.objects.bulk_create(rows)
    assert (count(first), count(second)) == (5, 2)


def test_deleting_executions_takes_them_off_the_count_and_never_below_zero(user):
    session = Session.objects.create(user=user, kind=Session.Kind.API)
    for n in range(3):
        call(user, session, f"Text number {n}.")
    ToolExecution.objects.filter(session=session).order_by("created")[0].delete()
    assert count(session) == 2
    Session.objects.filter(pk=session.pk).update(execution_count=0)  # a count that was already off
    ToolExecution.objects.filter(session=session).delete()
    assert count(session) == 0


def test_deleting_a_session_keeps_its_executions_and_the_other_counts(user):
    gone = Session.objects.create(user=user, kind=Session.Kind.API)
    kept = Session.objects.create(user=user, kind=Session.Kind.API)
    call(user, gone, "In the session that goes.")
    call(user, kept, "In the session that stays.")
    gone.delete()
    assert ToolExecution.objects.filter(session=None).count() == 1
    assert count(kept) == 1
