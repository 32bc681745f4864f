"""Ends executions left ``running`` by a process that died.

Two rules, both conditional updates through ``services.execution_finish`` (so a row
that finishes meanwhile is left alone, and running the reaper twice is harmless):

* a background execution on a worker without a heartbeat for EXECUTION_LOST_AFTER
  seconds lost its worker (SIGKILL, OOM, power): ``error``. Only where the cache is
  shared between processes (Redis), which is where workers exist;
* any execution running longer than its hard limit (timeout + 2 x
  CELERY_TIME_LIMIT_GRACE) can no longer be running anywhere: ``error``. This also
  covers a web process that died during an inline or eager call.

So with the defaults a SIGKILLed worker's execution is ended within
EXECUTION_LOST_AFTER + EXECUTION_REAPER_INTERVAL = 45 s. Every serving process runs the
reaper on a thread of its own (``start_in_process``): its schedule never waits in a queue
behind long tool tasks, and the embedded mode (eager Celery) has no beat at all. Celery
beat (`make worker`) runs it as well, as a second line; a beat run that waited in the queue
longer than one interval is dropped (the next one comes anyway).

A pending execution whose task never started (the broker lost the message, the process
that was to run it died) is ended as ``error`` once it has waited EXECUTION_QUEUE_TIMEOUT
(an MCP task: its TTL); a worker that gets the message later finds the row taken.

A third rule ends calls left waiting for their MCP client's answers (``input_required``):
a 2026-07-28 call after MCP_INPUT_TIMEOUT (its requestState has expired, no answer can
resume it), a task once its MCP_TASK_TTL is over: ``timeout``.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone

from executions import policy, rollup, services
from executions.models import ToolExecution
from tools.base import Mode
from tools.registry import registry

logger = logging.getLogger(__name__)
Status = ToolExecution.Status


def heartbeat_key(execution_id: object) -> str:
    return f"execution-alive:{execution_id}"


def cache_is_shared() -> bool:
    backend = settings.CACHES["default"]["BACKEND"].lower()
    return "locmem" not in backend and "dummy" not in backend


def _hard_limit(tool_name: str) -> float:
    tool = registry.get(tool_name)
    if tool is None:
        timeout = max(settings.TOOL_DEFAULT_TIMEOUT, settings.TOOL_BACKGROUND_TIMEOUT)
    else:
        timeout = policy.tool_policy(tool).timeout
    return timeout + 2 * settings.CELERY_TIME_LIMIT_GRACE


def executions_reap() -> list[ToolExecution]:
    """End every execution whose process is gone; return the rows that were ended."""
    now = timezone.now()
    ended: list[ToolExecution] = []
    # A row just claimed has no heartbeat yet: only rows older than the bound are looked at.
    candidates = ToolExecution.objects.filter(
        status=Status.RUNNING, started__lt=now - timedelta(seconds=settings.EXECUTION_LOST_AFTER)
    ).only("id", "tool_name", "mode", "started")
    for execution in candidates:
        reason = ""
        if (
            execution.mode == Mode.BACKGROUND
            and cache_is_shared()
            and not settings.CELERY_TASK_ALWAYS_EAGER
            and cache.get(heartbeat_key(execution.id)) is None
        ):
            reason = (
                f"The worker running this execution was lost (no heartbeat for "
                f"{settings.EXECUTION_LOST_AFTER:g} s); ended by the reaper."
            )
        started = execution.started
        if not reason and started is not None and (now - started).total_seconds() > _hard_limit(execution.tool_name):
            reason = "The execution ran past its hard time limit; the process running it was lost. Ended by the reaper."
        if reason:
            finished = services.execution_finish(execution_id=str(execution.id), status=Status.ERROR, error=reason)
            if finished.status == Status.ERROR and finished.error == reason:
                logger.warning("reaped execution %s: %s", execution.id, reason)
                ended.append(finished)
    ended += _reap_never_started(now)
    ended += _reap_unanswered(now)
    return ended


def _reap_never_started(now: datetime) -> list[ToolExecution]:
    ended = []
    queue_timeout = timedelta(seconds=settings.EXECUTION_QUEUE_TIMEOUT)
    pending = ToolExecution.objects.filter(
        Q(task_ttl_ms__isnull=True, created__lt=now - queue_timeout) | Q(task_ttl_ms__isnull=False),
        status=Status.PENDING,
    ).only("id", "created", "task_ttl_ms")
    for execution in pending:
        limit = queue_timeout if execution.task_ttl_ms is None else timedelta(milliseconds=execution.task_ttl_ms)
        if execution.created + limit < now:
            reason = (
                f"The call waited {limit.total_seconds():g} s for a worker and never started "
                "(its task was lost); ended by the reaper."
            )
            finished = services.execution_finish(execution_id=str(execution.id), status=Status.ERROR, error=reason)
            if finished.status == Status.ERROR and finished.error == reason:
                logger.warning("reaped execution %s: %s", execution.id, reason)
                ended.append(finished)
    return ended


def _reap_unanswered(now: datetime) -> list[ToolExecution]:
    ended = []
    waiting = ToolExecution.objects.filter(status=Status.INPUT_REQUIRED).only("id", "created", "task_ttl_ms")
    for execution in waiting:
        if execution.task_ttl_ms is None:
            limit = timedelta(seconds=settings.MCP_INPUT_TIMEOUT)
        else:
            limit = timedelta(milliseconds=execution.task_ttl_ms)
        if execution.created + limit < now:
            reason = "The client never answered the tool's questions; ended by the reaper."
            finished = services.execution_finish(execution_id=str(execution.id), status=Status.TIMEOUT, error=reason)
            if finished.status == Status.TIMEOUT:
                ended.append(finished)
    return ended


# --- In the web process, where no Celery beat runs ------------------------------------------

_in_process_started = False
_in_process_lock = threading.Lock()
_in_process_stop = threading.Event()


def start_in_process() -> None:
    """Run the reaper on a daemon thread of this serving process, every
    EXECUTION_REAPER_INTERVAL seconds: with eager Celery there is no beat, and with
    workers beat's runs wait in the queue behind long tools. Idempotent. Several
    processes reaping at once is harmless (every end is a conditional update)."""
    global _in_process_started
    # Called on every request: no lock once started.
    if _in_process_started or settings.EXECUTION_REAPER_INTERVAL <= 0:
        return
    with _in_process_lock:
        if _in_process_started:
            return
        _in_process_started = True
        _in_process_stop.clear()
    threading.Thread(target=_reap_forever, name="execution-reaper", daemon=True).start()


def stop_in_process() -> None:
    """Stop the reaper thread (tests); ``start_in_process`` may start it again."""
    global _in_process_started
    _in_process_stop.set()
    _in_process_started = False


def _reap_forever() -> None:
    from django.db import close_old_connections

    while not _in_process_stop.wait(settings.EXECUTION_REAPER_INTERVAL):
        try:
            executions_reap()
            rollup.rollup_executions()
        except Exception:
            logger.exception("the in-process reaper failed; it tries again")
        finally:
            try:
                close_old_connections()
            except Exception:  # the thread must live on to the next round
                logger.exception("the in-process reaper could not close its connection")
