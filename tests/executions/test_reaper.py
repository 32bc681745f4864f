"""The reaper on the embedded defaults (the lost-worker rule needs Redis: test_worker.py)."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from executions.models import ToolExecution
from executions.reaper import executions_reap

pytestmark = pytest.mark.django_db
Status = ToolExecution.Status


def running(user, *, tool_name: str, started_ago: float, mode: str = "inline") -> ToolExecution:
    return ToolExecution.objects.create(
        tool_name=tool_name, user=user, via="api", status=Status.RUNNING, mode=mode,
        started=timezone.now() - timedelta(seconds=started_ago),
    )


def test_it_ends_an_execution_running_past_its_hard_limit_as_error(user, settings):
    settings.CELERY_TIME_LIMIT_GRACE = 10
    # text_statistics times out after TOOL_DEFAULT_TIMEOUT (30 s): its hard limit is 50 s.
    lost = running(user, tool_name="text_statistics", started_ago=51)
    alive = running(user, tool_name="text_statistics", started_ago=45)
    assert [e.pk for e in executions_reap()] == [lost.pk]
    lost.refresh_from_db()
    alive.refresh_from_db()
    assert lost.status == Status.ERROR and "hard time limit" in lost.error and lost.finished is not None
    assert alive.status == Status.RUNNING


def test_it_leaves_background_executions_alone_within_their_limit_without_shared_cache(user):
    execution = running(user, tool_name="analyze_document", started_ago=120, mode="background")
    assert executions_reap() == []
    execution.refresh_from_db()
    assert execution.status == Status.RUNNING


def test_it_never_touches_finished_executions(user):
    done = ToolExecution.objects.create(
        tool_name="text_statistics", user=user, via="api", status=Status.SUCCESS, mode="inline",
        started=timezone.now() - timedelta(days=1), finished=timezone.now(),
    )
    assert executions_reap() == []
    done.refresh_from_db()
    assert done.status == Status.SUCCESS


def test_the_command_reports_what_it_ended(user):
    lost = running(user, tool_name="no_longer_registered", started_ago=3600 * 24)
    out = StringIO()
    call_command("reap_executions", stdout=out)
    assert str(lost.pk) in out.getvalue() and "Ended 1 lost execution(s)." in out.getvalue()
    call_command("reap_executions", stdout=out)
    assert "Ended 0 lost execution(s)." in out.getvalue()


def row_created(seconds_ago: float, **fields) -> ToolExecution:
    """A row as if created ``seconds_ago`` (``created`` is set on insert, so moved after)."""
    execution = ToolExecution.objects.create(**fields)
    ToolExecution.objects.filter(pk=execution.pk).update(created=timezone.now() - timedelta(seconds=seconds_ago))
    return execution


def waiting(user, *, created_ago: float, task_ttl_ms: int | None = None) -> ToolExecution:
    return row_created(
        created_ago, tool_name="confirm_delete", user=user, via="mcp", status=Status.INPUT_REQUIRED, mode="inline",
        started=timezone.now(), task_ttl_ms=task_ttl_ms, input_requests={"confirm": {"method": "elicitation/create"}},
    )


def test_it_ends_calls_whose_client_never_answered_once_their_state_or_task_has_expired(user, settings):
    settings.MCP_INPUT_TIMEOUT = 600
    forgotten = waiting(user, created_ago=601)
    answering = waiting(user, created_ago=30)
    expired_task = waiting(user, created_ago=61, task_ttl_ms=60_000)
    live_task = waiting(user, created_ago=601, task_ttl_ms=3_600_000)

    assert {e.pk for e in executions_reap()} == {forgotten.pk, expired_task.pk}
    for execution in (forgotten, answering, expired_task, live_task):
        execution.refresh_from_db()
    assert (
        forgotten.status == Status.TIMEOUT and "never answered" in forgotten.error and forgotten.input_requests is None
    )
    assert expired_task.status == Status.TIMEOUT
    assert answering.status == live_task.status == Status.INPUT_REQUIRED


@pytest.mark.django_db(transaction=True)
def test_in_the_embedded_mode_the_web_process_runs_the_reaper_itself(user, settings, monkeypatch):
    import time

    from executions import reaper

    settings.CELERY_TIME_LIMIT_GRACE = 10
    settings.EXECUTION_REAPER_INTERVAL = 0.2
    monkeypatch.setattr(reaper, "_in_process_started", False)
    lost = running(user, tool_name="text_statistics", started_ago=120)
    reaper.start_in_process()
    reaper.start_in_process()  # once per process
    try:
        assert sum(t.name == "execution-reaper" for t in __import__("threading").enumerate()) >= 1
        for _ in range(100):
            lost.refresh_from_db()
            if lost.status != Status.RUNNING:
                break
            time.sleep(0.05)
    finally:
        reaper.stop_in_process()
    assert lost.status == Status.ERROR and "hard time limit" in lost.error


@pytest.mark.django_db(transaction=True)
def test_the_in_process_reaper_lives_on_when_closing_its_connection_fails(user, settings, monkeypatch):
    """A round whose connection cannot be closed (the database went away, say) is logged;
    the thread goes on to its next round instead of dying with the error."""
    import threading
    import time

    import django.db

    from executions import reaper

    settings.CELERY_TIME_LIMIT_GRACE = 10
    settings.EXECUTION_REAPER_INTERVAL = 0.1
    monkeypatch.setattr(reaper, "_in_process_started", False)
    closes = 0
    real_close = django.db.close_old_connections

    def close_fails_first() -> None:
        nonlocal closes
        closes += 1
        if closes == 1:
            raise RuntimeError("the database went away")
        real_close()

    monkeypatch.setattr(django.db, "close_old_connections", close_fails_first)
    reaper.start_in_process()
    try:
        for _ in range(100):
            if closes >= 1:
                break
            time.sleep(0.05)
        lost = running(user, tool_name="text_statistics", started_ago=120)  # after the failed round
        for _ in range(100):
            lost.refresh_from_db()
            # Reaped in a later round, and that round's close came too (it follows the reaping).
            if lost.status != Status.RUNNING and closes >= 2:
                break
            time.sleep(0.05)
        assert any(t.name == "execution-reaper" and t.is_alive() for t in threading.enumerate())
    finally:
        reaper.stop_in_process()
    assert closes >= 2
    assert lost.status == Status.ERROR and "hard time limit" in lost.error


def test_with_workers_the_web_process_runs_the_reaper_too(settings, monkeypatch):
    """Beat's runs wait in the queue behind long tools; the web process's thread does not."""
    from executions import reaper

    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.EXECUTION_REAPER_INTERVAL = 60
    monkeypatch.setattr(reaper, "_in_process_started", False)
    reaper.start_in_process()
    try:
        assert reaper._in_process_started is True
    finally:
        reaper.stop_in_process()


def pending(user, *, created_ago: float, task_ttl_ms: int | None = None) -> ToolExecution:
    return row_created(
        created_ago, tool_name="analyze_document", user=user, via="api", status=Status.PENDING, mode="background",
        task_ttl_ms=task_ttl_ms,
    )


def test_it_ends_pending_executions_whose_task_never_started(user, settings):
    settings.EXECUTION_QUEUE_TIMEOUT = 600
    lost = pending(user, created_ago=601)
    queued = pending(user, created_ago=500)
    lost_task = pending(user, created_ago=61, task_ttl_ms=60_000)
    queued_task = pending(user, created_ago=601, task_ttl_ms=3_600_000)

    assert {e.pk for e in executions_reap()} == {lost.pk, lost_task.pk}
    for execution in (lost, queued, lost_task, queued_task):
        execution.refresh_from_db()
    assert lost.status == Status.ERROR and "never started" in lost.error and lost.finished is not None
    assert lost_task.status == Status.ERROR
    assert queued.status == queued_task.status == Status.PENDING


def test_a_task_that_arrives_after_the_reaper_ended_its_row_does_not_run(user, settings):
    from executions.services import execution_run

    settings.EXECUTION_QUEUE_TIMEOUT = 600
    lost = pending(user, created_ago=601)
    executions_reap()
    assert execution_run(execution_id=str(lost.pk)) is None
    lost.refresh_from_db()
    assert lost.status == Status.ERROR and lost.started is None
