"""Hourly roll-up of finished executions, so that the dashboard's cost does not grow
with history.

Each final execution is counted once into the ``ToolCallHour`` of its tool and the hour
it was created in, and marked ``rolled_up``. The dashboard (``selectors.tool_call_stats``)
adds the hours to the few rows not rolled up yet (recent, or still running), so its
figures are the same before and after a roll-up. The reaper runs it every
``EXECUTION_REAPER_INTERVAL`` seconds (beat and the web processes' reaper thread).

Several processes may roll up at once: on PostgreSQL each takes rows the others have not
locked (``skip_locked``) and the hour rows are locked in one order; SQLite runs one write
transaction at a time. A row is counted in the same transaction that marks it, so it is
never counted twice or lost.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from django.db import transaction

from executions.models import ToolCallHour, ToolExecution

logger = logging.getLogger(__name__)

Status = ToolExecution.Status
FAILED = (Status.ERROR, Status.TIMEOUT)

BATCH = 5000
MAX_BATCHES_PER_RUN = 40  # 200,000 rows: a backlog (an upgrade, an import) drains over a few runs


def duration_bucket(ms: int) -> int:
    """The exact duration under 100 ms, else rounded down to two significant figures
    (1234 -> 1200): about 550 buckets from 0 to an hour, percentiles within 10%."""
    if ms < 100:
        return ms
    step = 10 ** (len(str(ms)) - 2)
    return ms // step * step


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


Key = tuple[str, datetime]  # (tool name, hour)


def count(
    rows: Iterable[tuple[str, datetime, str, int | None]],
) -> tuple[Counter[Key], Counter[Key], dict[Key, Counter[int]]]:
    """Calls, failed calls and duration buckets per tool and hour of (tool_name, created,
    status, duration_ms) rows: what a roll-up stores, and what the dashboard adds for the
    rows not rolled up yet."""
    calls: Counter[Key] = Counter()
    errors: Counter[Key] = Counter()
    durations: dict[Key, Counter[int]] = {}
    for tool_name, created, status, duration_ms in rows:
        key = (tool_name, hour_of(created))
        calls[key] += 1
        if status in FAILED:
            errors[key] += 1
        if duration_ms is not None:  # set when a call ends
            durations.setdefault(key, Counter())[duration_bucket(duration_ms)] += 1
    return calls, errors, durations


def rollup_executions(*, batch: int = BATCH, max_batches: int = MAX_BATCHES_PER_RUN) -> int:
    """Count the final executions not counted yet; return how many were counted."""
    total = 0
    for _ in range(max_batches):
        counted = _rollup_batch(batch)
        total += counted
        if counted < batch:
            break
    if total:
        logger.debug("rolled up %d executions", total)
    return total


def _rollup_batch(batch: int) -> int:
    with transaction.atomic():
        rows = list(
            ToolExecution.objects.select_for_update(skip_locked=True)
            .filter(rolled_up=False, status__in=ToolExecution.FINAL_STATUSES)
            .order_by()
            .values_list("pk", "tool_name", "created", "status", "duration_ms")[:batch]
        )
        if not rows:
            return 0
        calls, errors, durations = count(row[1:] for row in rows)
        _add_to_hours(calls, errors, durations)
        ToolExecution.objects.filter(pk__in=[row[0] for row in rows]).update(rolled_up=True)
        return len(rows)


def _add_to_hours(
    calls: Mapping[tuple[str, datetime], int],
    errors: Mapping[tuple[str, datetime], int],
    durations: Mapping[tuple[str, datetime], Mapping[int, int]],
) -> None:
    keys = sorted(calls)
    ToolCallHour.objects.bulk_create(
        [ToolCallHour(tool_name=tool_name, hour=hour) for tool_name, hour in keys], ignore_conflicts=True
    )
    hours = (
        ToolCallHour.objects.select_for_update()
        .filter(tool_name__in={tool_name for tool_name, _ in keys}, hour__in={hour for _, hour in keys})
        .order_by("tool_name", "hour")  # one lock order for every process
    )
    changed = []
    for row in hours:
        key = (row.tool_name, row.hour)
        if key not in calls:
            continue
        row.calls += calls[key]
        row.errors += errors.get(key, 0)
        row.durations = merge_buckets([row.durations, {str(b): n for b, n in durations.get(key, {}).items()}])
        changed.append(row)
    ToolCallHour.objects.bulk_update(changed, ["calls", "errors", "durations"])


def merge_buckets(histograms: Iterable[Mapping[str, int]]) -> dict[str, int]:
    merged: Counter[str] = Counter()
    for histogram in histograms:
        merged.update(histogram)
    return dict(merged)
