"""Celery tasks: thin wrappers around the execution service.

``run_execution`` runs one background execution. The service's claim makes it
idempotent, so a message delivered twice (``acks_late``, a redelivery after a lost
worker) never runs the tool twice. Around the service call the task

* gets Celery time limits from the tool's policy: the service stops the tool at its
  timeout and records ``timeout``; the soft limit (timeout + CELERY_TIME_LIMIT_GRACE)
  and the hard limit (one more grace) catch a worker that is stuck past that, and
  both also record ``timeout``;
* marks the execution alive in the shared cache while it owns it (``Heartbeats``), so
  that the reaper can tell an execution whose worker died (SIGKILL, OOM) from a slow one.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from celery.signals import task_postrun
from django.conf import settings
from django.core.cache import cache
from django.db import close_old_connections

from executions import policy, reaper, rollup, services
from executions.models import ToolExecution

logger = logging.getLogger(__name__)
Status = ToolExecution.Status


def time_limits(execution_id: str) -> tuple[float, float] | None:
    """(soft, hard) Celery time limits for an execution, from its tool's policy."""
    from tools.registry import registry

    tool_name = ToolExecution.objects.filter(pk=execution_id).values_list("tool_name", flat=True).first()
    tool = registry.get(tool_name) if tool_name else None
    if tool is None:
        return None
    return services.celery_time_limits(policy.tool_policy(tool).timeout)


class ExecutionTask(Task):
    acks_late = True
    reject_on_worker_lost = True

    def apply_async(  # type: ignore[override]  # celery-types spells out every option; all pass through **options
        self, args: Any = None, kwargs: Any = None, task_id: str | None = None, **options: Any
    ) -> Any:
        # The service passes the limits from the policy it holds; else they are read here.
        if args and "time_limit" not in options:
            limits = time_limits(str(args[0]))
            if limits is not None:
                options["soft_time_limit"], options["time_limit"] = limits
        return super().apply_async(args, kwargs, task_id=task_id, **options)

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        # Also called in the worker's main process when the pool killed the task at its
        # hard time limit: the row must not stay `running`.
        if not args:
            return
        if isinstance(exc, (TimeLimitExceeded, SoftTimeLimitExceeded)):
            status, error = Status.TIMEOUT, "The worker's hard time limit stopped the tool."
        else:
            status, error = Status.ERROR, f"The worker failed: {type(exc).__name__}: {exc}"
        close_old_connections()
        services.execution_finish(execution_id=str(args[0]), status=status, error=error)


class Heartbeats:
    """The executions this worker process runs, marked alive in the shared cache.

    One thread per process beats for all of them, every EXECUTION_HEARTBEAT_SECONDS: a task
    starts no thread of its own. An execution is added once this delivery of its task has
    claimed the row (a duplicate delivery of a task that another worker runs must not speak
    for it), so its first beat comes within one interval of the claim; the reaper only
    looks at rows claimed more than EXECUTION_LOST_AFTER ago.
    """

    def __init__(self) -> None:
        self._owned: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, execution_id: str) -> None:
        with self._lock:
            self._owned.add(execution_id)
            if self._thread is None:  # a forked process starts with a new Heartbeats (below)
                self._thread = threading.Thread(target=self._beat, name="heartbeats", daemon=True)
                self._thread.start()

    def discard(self, execution_id: str) -> None:
        with self._lock:
            self._owned.discard(execution_id)

    def __contains__(self, execution_id: object) -> bool:
        with self._lock:
            return execution_id in self._owned

    def _beat(self) -> None:
        while True:
            time.sleep(settings.EXECUTION_HEARTBEAT_SECONDS)
            with self._lock:
                owned = list(self._owned)
            if not owned:
                continue
            try:
                cache.set_many(
                    {reaper.heartbeat_key(execution_id): 1 for execution_id in owned},
                    timeout=int(settings.EXECUTION_LOST_AFTER) + 1,
                )
            except Exception as exc:  # the cache is away for a moment: beat again next time
                logger.warning("could not mark %d executions alive: %r", len(owned), exc)


heartbeats = Heartbeats()


def _new_heartbeats_in_child() -> None:
    # A forked pool process has no copy of its parent's thread, nor its executions.
    global heartbeats
    heartbeats = Heartbeats()


os.register_at_fork(after_in_child=_new_heartbeats_in_child)


@shared_task(bind=True, base=ExecutionTask, name="executions.run_execution")
def run_execution(self: ExecutionTask, execution_id: str) -> str | None:
    owner = False

    def claimed(execution_id: str) -> None:
        nonlocal owner
        heartbeats.add(execution_id)
        owner = True

    # An eager task runs in the web process, where no reaper asks for a heartbeat.
    on_claimed = None if getattr(self.request, "is_eager", False) else claimed
    try:
        execution = services.execution_run(execution_id=execution_id, on_claimed=on_claimed)
    except SoftTimeLimitExceeded:
        execution = services.execution_finish(
            execution_id=execution_id, status=Status.TIMEOUT, error="The worker's soft time limit stopped the tool."
        )
    finally:
        if owner:  # a duplicate delivery that found the row claimed leaves the owner's beat alone
            heartbeats.discard(execution_id)
    return execution.status if execution is not None else None


@task_postrun.connect
def _connections_back(task: Task | None = None, **kwargs: Any) -> None:
    """After each task in a worker, as after a web request: a pooled connection goes back
    to the pool, a broken or obsolete one is closed (CELERY_DB_REUSE_MAX keeps Celery
    from closing them all). An eager task ran on its caller's thread and connection."""
    if task is not None and not getattr(task.request, "is_eager", False):
        close_old_connections()


@shared_task(name="executions.reap_executions")
def reap_executions() -> int:
    reaped = len(reaper.executions_reap())
    rollup.rollup_executions()  # the dashboard's hours (beat runs this often enough)
    return reaped
