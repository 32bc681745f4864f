"""The executions table's indexes: each one is written by every call's INSERT, so the
table has none that another already serves, and the lookups that lost theirs
(migration 0009) still find their rows through an index, not a scan of the history.
New rows' ids are in time order (UUIDv7), so that the primary key's index grows at its end.

Both databases: the embedded SQLite here, PostgreSQL in CI's second pass
(``DATABASE_URL``; its planner is told to avoid a sequential scan where it can, since a
test table is too small for it to choose an index by itself).
"""

from __future__ import annotations

import time
import uuid

import pytest
from django.db import connection, transaction

from accounts.models import User
from executions import services
from executions.models import Session, ToolExecution

pytestmark = pytest.mark.django_db

TABLE = ToolExecution._meta.db_table


def index_columns() -> dict[str, list[str]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, TABLE)
    return {name: info["columns"] for name, info in constraints.items() if info["index"] and not info["primary_key"]}


def plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN {sql}", params)
            return "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        return "\n".join(str(row[-1]) for row in cursor.fetchall())


def uses_an_index(text: str) -> bool:
    if connection.vendor == "postgresql":
        return "Index" in text and "Seq Scan" not in text
    # SQLite: "SEARCH ... USING INDEX" (or a SCAN of an index, for an ordered walk), never a bare table scan.
    return "USING INDEX" in text or "USING COVERING INDEX" in text


def test_no_index_of_the_table_is_served_by_another_that_leads_with_the_same_columns():
    indexes = index_columns()
    # A partial index is not served by a full one, nor the other way round.
    partial = {index.name for index in ToolExecution._meta.indexes if index.condition is not None}
    for name, columns in indexes.items():
        if name in partial:
            continue
        wider = [other for other, cols in indexes.items() if other != name and other not in partial
                 and cols[: len(columns)] == columns and len(cols) > len(columns)]
        assert not wider, f"{name} {columns} is served by {wider}"
    assert "execution_subcalls" in indexes
    assert ["user_id"] not in indexes.values() and ["session_id"] not in indexes.values()


def test_the_lookups_by_user_session_and_caller_still_go_through_an_index(user: User):
    session = Session.objects.create(user=user, kind=Session.Kind.MCP)
    parent = ToolExecution.objects.create(tool_name="t", via="mcp", user=user, session=session)
    lookups = {
        "a user's calls": ToolExecution.objects.filter(user=user).order_by("-created")[:25],
        "a session's calls": ToolExecution.objects.filter(session=session).order_by("-created")[:25],
        "an execution's sub-calls": ToolExecution.objects.filter(parent=parent).order_by("created"),
        "the sub-calls of executions being deleted": ToolExecution.objects.filter(
            parent__in=[parent.pk, uuid.uuid4()]
        ),
    }
    for what, queryset in lookups.items():
        text = plan(queryset)
        assert uses_an_index(text), f"{what}: {text}"
    assert "execution_subcalls" in plan(lookups["an execution's sub-calls"])


def test_new_executions_get_time_ordered_ids_that_add_to_the_end_of_the_primary_key(user: User):
    made = []
    for _ in range(3):
        made.append(services.execute_tool(user=user, tool_name="calculate", arguments={"expression": "1+1"}, via="api"))
        time.sleep(0.002)  # a later millisecond: the ids' time part
    ids = [execution.pk for execution in made]
    assert all(pk.version == 7 for pk in ids)
    assert ids == sorted(ids)
    stored = list(ToolExecution.objects.filter(pk__in=ids).order_by("pk").values_list("pk", flat=True))
    assert stored == ids  # the database orders them the same way (SQLite: hex text; PostgreSQL: uuid)
