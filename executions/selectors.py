from __future__ import annotations

import math
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from executions import rollup
from executions.models import Session, ToolCallHour, ToolExecution


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
    qs = Session.objects.select_related("user")
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


def tool_call_stats(*, hours: int = 24) -> CallStats:
    """Calls, error rate and p50/p95 duration per tool, and calls per hour, for the admin:
    the calls created in the last ``hours`` clock hours (the current one included).

    Whatever the history holds, two queries: the rolled-up hours (``executions.rollup``)
    and the rows not rolled up yet (recent, or still running).
    Percentiles are nearest rank over duration buckets (exact under 100 ms, two
    significant figures above): a duration that occurred, to within 10%.
    """
    now = timezone.now()
    since = rollup.hour_of(now - timedelta(hours=hours - 1))
    calls: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    buckets: dict[str, Counter[int]] = {}
    by_hour: dict[datetime, list[int]] = {}

    for row in ToolCallHour.objects.filter(hour__gte=since):
        calls[row.tool_name] += row.calls
        errors[row.tool_name] += row.errors
        buckets.setdefault(row.tool_name, Counter()).update({int(b): n for b, n in row.durations.items()})
        hour = by_hour.setdefault(row.hour, [0, 0])
        hour[0] += row.calls
        hour[1] += row.errors

    # The rows not rolled up yet, read as rows (a few seconds' worth while the reaper runs):
    # a GROUP BY here would tempt SQLite's planner into a full index of the table.
    live = (
        ToolExecution.objects.filter(rolled_up=False, created__gte=since).order_by()
        .values_list("tool_name", "created", "status", "duration_ms")
    )
    live_calls, live_errors, live_durations = rollup.count(live.iterator(chunk_size=5000))
    for (tool_name, start), n in live_calls.items():
        calls[tool_name] += n
        errors[tool_name] += live_errors[(tool_name, start)]
        buckets.setdefault(tool_name, Counter()).update(live_durations.get((tool_name, start), {}))
        hour = by_hour.setdefault(start, [0, 0])
        hour[0] += n
        hour[1] += live_errors[(tool_name, start)]

    tools = []
    for tool_name in sorted(calls, key=lambda name: (-calls[name], name)):
        durations = buckets.get(tool_name, Counter())
        p50, p95 = (_nearest_rank(durations, fraction) for fraction in (0.5, 0.95))
        tools.append(ToolStats(tool_name, calls[tool_name], errors[tool_name], p50, p95))
    hourly = [
        (hour, *by_hour.get(hour, (0, 0))) for hour in (since + timedelta(hours=i) for i in range(hours))
    ]
    return CallStats(since=since, tools=tools, hourly=hourly)


def _nearest_rank(durations: Counter[int], fraction: float) -> float | None:
    count = sum(durations.values())
    if not count:
        return None
    rank = max(1, math.ceil(fraction * count))
    seen = 0
    for duration in sorted(durations):
        seen += durations[duration]
        if seen >= rank:
            return float(duration)
    raise AssertionError("unreachable: the ranks add up to the count")


def executions_recent_of_user(*, user: User, limit: int = 10) -> list[ToolExecution]:
    """The user's own latest executions (the home page), newest first."""
    return list(ToolExecution.objects.filter(user=user).order_by("-created")[:limit])
