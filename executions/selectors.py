from __future__ import annotations

import math
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone
from django.db.models import Count, QuerySet

from accounts.models import User
from executions.models import Session, ToolExecution


def execution_of_user(*, execution_id: str, user: User | None) -> ToolExecution | None:
    """The user's own execution with this id, or None: someone else's answers like a
    missing one (the realtime and MCP doors; ids are not to be probed)."""
    try:
        uuid.UUID(str(execution_id))
    except ValueError:
        return None
    return ToolExecution.objects.filter(pk=execution_id, user=user).first()


def executions_visible_to(user: User) -> QuerySet[ToolExecution]:
    """Admins see every execution, users their own."""
    qs = ToolExecution.objects.select_related("user")
    return qs if user.is_hub_admin else qs.filter(user=user)


def sessions_visible_to(user: User) -> QuerySet[Session]:
    # An annotated query drops the model's default ordering: newest first, explicitly.
    qs = Session.objects.select_related("user").annotate(execution_count=Count("executions")).order_by("-created")
    return qs if user.is_hub_admin else qs.filter(user=user)


@dataclass
class ToolStats:
    tool_name: str
    calls: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0


@dataclass
class CallStats:
    since: datetime
    tools: list[ToolStats]
    hourly: list[tuple[datetime, int, int]]  # (hour start, calls, failed calls)

    @property
    def total_calls(self) -> int:
        return sum(t.calls for t in self.tools)

    @property
    def max_hourly(self) -> int:
        return max((calls for _, calls, _ in self.hourly), default=0)


def _percentile(sorted_values: list[int], fraction: float) -> float | None:
    """Nearest-rank percentile: a value that really occurred, as operators expect."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return float(sorted_values[rank - 1])


def tool_call_stats(*, hours: int = 24, max_rows: int = 200_000) -> CallStats:
    """Calls, error rate and p50/p95 duration per tool, and calls per hour, for the admin."""
    now = timezone.now()
    since = now - timedelta(hours=hours)
    failed = [ToolExecution.Status.ERROR, ToolExecution.Status.TIMEOUT]
    rows = (
        ToolExecution.objects.filter(created__gte=since)
        .order_by()
        .values_list("tool_name", "status", "duration_ms", "created")[:max_rows]
    )
    durations: dict[str, list[int]] = defaultdict(list)
    calls: dict[str, int] = defaultdict(int)
    errors: dict[str, int] = defaultdict(int)
    start_hour = (now - timedelta(hours=hours - 1)).replace(minute=0, second=0, microsecond=0)
    hourly_calls = [0] * hours
    hourly_failed = [0] * hours
    for tool_name, status, duration_ms, created in rows:
        calls[tool_name] += 1
        if status in failed:
            errors[tool_name] += 1
        if duration_ms is not None and status in ToolExecution.FINAL_STATUSES:
            durations[tool_name].append(duration_ms)
        slot = int((created - start_hour).total_seconds() // 3600)
        if 0 <= slot < hours:
            hourly_calls[slot] += 1
            hourly_failed[slot] += status in failed
    tools = []
    for tool_name in sorted(calls, key=lambda n: (-calls[n], n)):
        values = sorted(durations[tool_name])
        tools.append(ToolStats(tool_name, calls[tool_name], errors[tool_name], _percentile(values, 0.5),
                               _percentile(values, 0.95)))
    hourly = [(start_hour + timedelta(hours=i), hourly_calls[i], hourly_failed[i]) for i in range(hours)]
    return CallStats(since=since, tools=tools, hourly=hourly)


def executions_recent_of_user(*, user: User, limit: int = 10) -> list[ToolExecution]:
    """The user's own latest executions (the home page), newest first."""
    return list(ToolExecution.objects.filter(user=user).order_by("-created")[:limit])
