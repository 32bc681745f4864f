"""Celery tasks: thin wrappers around the execution service."""

from __future__ import annotations

from celery import shared_task

from executions import services


@shared_task(name="executions.run_execution", acks_late=True)
def run_execution(execution_id: str) -> str | None:
    execution = services.execution_run(execution_id=execution_id)
    return execution.status if execution is not None else None
