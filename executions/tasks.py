"""Celery tasks: thin wrappers around the execution service.

``run_execution`` runs one background execution. The service's claim makes it
idempotent, so a message delivered twice (``acks_late``, a redelivery after a lost
worker) never runs the tool twice. Around the service call the task

* gets Celery time limits from the tool's policy: the service stops the tool at its
  timeout and records ``timeout``; the soft limit (timeout + CELERY_TIME_LIMIT_GRACE)
  and the hard limit (one more grace) catch a worker that is stuck past that, and
  both also record ``timeout``;
* keeps a heartbeat in the shared cache while it owns the execution, so that the
  reaper can tell an execution whose worker died (SIGKILL, OOM) from a slow one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from celery.signals import task_postrun
from django.conf import settings
from django.core.cache import cache
from django.db import close_old_connections, connection
from django.utils import timezone

from executions import policy, reaper, rollup, services
from executions.models import ToolExecution

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


@contextmanager
def heartbeat(execution_id: str) -> Iterator[None]:
    """Mark the execution alive while this delivery of the task owns it.

    Owning means the row is running and was claimed after this delivery began: a
    duplicate delivery of a task that another worker runs must not speak for it.
    """
    began = timezone.now()
    stop = threading.Event()

    def beat() -> None:
        owner = False
        try:
            while not stop.wait(settings.EXECUTION_HEARTBEAT_SECONDS if owner else 0.1):
                if not owner:
                    row = ToolExecution.objects.filter(pk=execution_id).values("status", "started").first()
                    if row is None or (row["status"] != Status.RUNNING and row["status"] != Status.PENDING):
                        return
                    if row["status"] == Status.PENDING:
                        continue
                    started: datetime | None = row["started"]
                    if started is None or started < began:
                        return  # claimed by another delivery
                    owner = True
                cache.set(reaper.heartbeat_key(execution_id), 1, timeout=int(settings.EXECUTION_LOST_AFTER) + 1)
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"heartbeat-{execution_id[:8]}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


@shared_task(bind=True, base=ExecutionTask, name="executions.run_execution")
def run_execution(self: ExecutionTask, execution_id: str) -> str | None:
    with heartbeat(execution_id):
        try:
            execution = services.execution_run(execution_id=execution_id)
        except SoftTimeLimitExceeded:
            execution = services.execution_finish(
                execution_id=execution_id, status=Status.TIMEOUT, error="The worker's soft time limit stopped the tool."
            )
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
