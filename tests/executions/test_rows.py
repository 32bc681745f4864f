"""The row's hot-path statements (executions/rows.py) write what the ORM writes.

Each statement is run beside the ORM statement it stands for, on rows of the same
values, and the rows are read back through the ORM and compared field by field: JSON
values, SQL NULL against JSON null, the id, times, a foreign key. Both databases: the
embedded SQLite here, PostgreSQL in CI's second pass (``DATABASE_URL``).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models.signals import post_save, pre_save
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from executions import rows
from executions.models import Session, ToolExecution
from executions.services import IN_PROGRESS

pytestmark = pytest.mark.django_db

Status = ToolExecution.Status
FIELDS = [field.name for field in ToolExecution._meta.concrete_fields if field.name != "id"]


def stored(pk: uuid.UUID) -> dict:
    row = ToolExecution.objects.get(pk=pk)
    return {name: getattr(row, name) for name in FIELDS}


def values(user: User, session: Session | None) -> dict:
    now = timezone.now()
    return {
        "tool_name": "text_statistics", "server": "", "user": user, "session": session, "via": "mcp",
        "arguments": {"text": "Zoë's \"quoted\" text", "n": [1, 2.5, None, True], "nested": {"a": {}}},
        "status": Status.RUNNING, "mode": "inline", "created": now, "started": now, "task_ttl_ms": None,
    }


def test_nothing_listens_for_saves_of_an_execution():
    # rows.insert does not send pre_save or post_save: nothing may rely on them.
    assert not pre_save.has_listeners(ToolExecution)
    assert not post_save.has_listeners(ToolExecution)


def test_insert_writes_the_row_the_orm_writes():
    user = User.objects.create_user("rows")
    session = Session.objects.create(user=user, kind=Session.Kind.API)
    for session_ in (session, None):
        fields = values(user, session_)
        by_orm = ToolExecution.objects.create(**fields)
        execution = ToolExecution(**fields)
        with CaptureQueriesContext(connection) as queries:
            rows.insert(execution)
        assert len(queries) == 1 and queries[0]["sql"].startswith("INSERT")
        assert not execution._state.adding  # a saved instance: save() updates, refresh works
        assert stored(execution.pk) == stored(by_orm.pk)
        assert ToolExecution.objects.get(pk=execution.pk).arguments == fields["arguments"]
    # The session's execution count (a trigger on the table) counts both ways alike.
    session.refresh_from_db()
    assert session.execution_count == 2


def test_a_second_insert_of_the_same_id_fails_as_the_orm_does():
    user = User.objects.create_user("rows")
    execution = ToolExecution(**values(user, None))
    rows.insert(execution)
    twin = ToolExecution(**{**values(user, None), "id": execution.id})
    with transaction.atomic():
        with pytest.raises(IntegrityError):
            rows.insert(twin)
        # As after a failed save(): the block is marked to roll back (it does, on leaving).
        assert transaction.get_rollback()
    assert ToolExecution.objects.filter(pk=execution.pk).count() == 1


@pytest.mark.parametrize("result", [{"words": 3, "list": [1, "two"]}, None, [], "text", 0])
def test_finish_writes_what_the_orm_update_writes(result):
    user = User.objects.create_user("rows")
    fields = values(user, None)
    by_orm = ToolExecution.objects.create(**fields)
    execution = ToolExecution.objects.create(**fields)
    finished = timezone.now() + timedelta(seconds=1)
    update = {
        "status": Status.SUCCESS, "result": result, "error": "", "finished": finished, "duration_ms": 1000,
        "input_requests": None, "progress": 2.0, "progress_total": None, "progress_message": "done",
    }
    assert ToolExecution.objects.filter(pk=by_orm.pk, status__in=IN_PROGRESS).update(**update) == 1
    assert rows.finish(execution.pk, where_status_in=IN_PROGRESS, values=update) == 1
    assert stored(execution.pk) == stored(by_orm.pk)
    # None is SQL NULL (as the ORM writes it), not JSON null.
    assert ToolExecution.objects.filter(pk=execution.pk, result__isnull=True).exists() == (result is None)
    assert ToolExecution.objects.filter(pk=execution.pk, input_requests__isnull=True).exists()


def test_finish_changes_only_a_row_still_in_progress():
    user = User.objects.create_user("rows")
    execution = ToolExecution.objects.create(**{**values(user, None), "status": Status.CANCELLED})
    changed = rows.finish(execution.pk, where_status_in=IN_PROGRESS, values={"status": Status.SUCCESS, "result": 1})
    assert changed == 0
    execution.refresh_from_db()
    assert (execution.status, execution.result) == (Status.CANCELLED, None)
    assert rows.finish(uuid.uuid4(), where_status_in=IN_PROGRESS, values={"status": Status.SUCCESS}) == 0


def test_claim_moves_a_pending_row_to_running_and_reads_it_as_the_orm_does():
    user = User.objects.create_user("rows")
    session = Session.objects.create(user=user, kind=Session.Kind.API)
    pending = ToolExecution.objects.create(**{
        **values(user, session), "status": Status.PENDING, "mode": "background", "started": None, "task_ttl_ms": 5000,
    })
    started = timezone.now() + timedelta(seconds=1)
    with CaptureQueriesContext(connection) as queries:
        claimed = rows.claim(pending.pk, started=started)
    assert len(queries) == 1 and queries[0]["sql"].startswith("UPDATE")
    assert claimed is not None and not claimed._state.adding
    assert {name: getattr(claimed, name) for name in FIELDS} == stored(pending.pk)
    assert (claimed.pk, claimed.status, claimed.started) == (pending.pk, Status.RUNNING, started)
    assert claimed.user_id == user.pk and claimed.arguments == pending.arguments


def test_claim_leaves_a_row_that_is_not_pending_as_it_is():
    user = User.objects.create_user("rows")
    running = ToolExecution.objects.create(**values(user, None))
    assert rows.claim(running.pk, started=timezone.now() + timedelta(seconds=5)) is None
    assert stored(running.pk)["started"] == running.started
    assert rows.claim(uuid.uuid4(), started=timezone.now()) is None
