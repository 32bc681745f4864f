from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.utils import timezone
from django.db import connection
from django.db.models import CharField, Count, Q, QuerySet
from django.db.models.functions import Cast, Substr, TruncHour

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
    """Calls, error rate and p50/p95 duration per tool, and calls per hour, for the admin.

    Counted in SQL, whatever the history holds: one query for the tools, two per tool for
    its percentiles (nearest rank: a duration that really occurred, as operators expect)
    and one for the hours.
    """
    now = timezone.now()
    since = now - timedelta(hours=hours)
    failed = Q(status__in=[ToolExecution.Status.ERROR, ToolExecution.Status.TIMEOUT])
    timed = Q(status__in=ToolExecution.FINAL_STATUSES, duration_ms__isnull=False)
    window = ToolExecution.objects.filter(created__gte=since).order_by()
    per_tool = window.values("tool_name").annotate(
        calls=Count("pk"), errors=Count("pk", filter=failed), timed=Count("pk", filter=timed)
    )
    tools = []
    for row in sorted(per_tool, key=lambda r: (-r["calls"], r["tool_name"])):
        # Walks the (tool_name, duration_ms, ...) index up to the rank: no sort, no row read.
        durations = (
            window.filter(timed, tool_name=row["tool_name"]).order_by("duration_ms")
            .values_list("duration_ms", flat=True)
        )
        p50, p95 = (_nearest_rank(durations, row["timed"], fraction) for fraction in (0.5, 0.95))
        tools.append(ToolStats(row["tool_name"], row["calls"], row["errors"], p50, p95))
    # Calls per hour, grouped in one pass: the database's own hour truncation, except on
    # SQLite, where Django's is a Python call per row; there the stored UTC text's first
    # 13 characters ("YYYY-MM-DD HH") are the hour.
    start_hour = (now - timedelta(hours=hours - 1)).replace(minute=0, second=0, microsecond=0)
    sqlite = connection.vendor == "sqlite"
    bucket = Substr(Cast("created", CharField()), 1, 13) if sqlite else TruncHour("created", tzinfo=dt_timezone.utc)
    by_hour = {}
    for row in (
        window.filter(created__gte=start_hour).annotate(hour=bucket).values("hour")
        .annotate(calls=Count("pk"), failed=Count("pk", filter=failed))
    ):
        hour = datetime.strptime(row["hour"], "%Y-%m-%d %H").replace(tzinfo=dt_timezone.utc) if sqlite else row["hour"]
        by_hour[hour] = (row["calls"], row["failed"])
    hourly = [(hour, *by_hour.get(hour, (0, 0))) for hour in (start_hour + timedelta(hours=i) for i in range(hours))]
    return CallStats(since=since, tools=tools, hourly=hourly)


def _nearest_rank(ordered: QuerySet, count: int, fraction: float) -> float | None:
    if not count:
        return None
    rank = max(1, math.ceil(fraction * count))
    return float(ordered[rank - 1])


def executions_recent_of_user(*, user: User, limit: int = 10) -> list[ToolExecution]:
    """The user's own latest executions (the home page), newest first."""
    return list(ToolExecution.objects.filter(user=user).order_by("-created")[:limit])
