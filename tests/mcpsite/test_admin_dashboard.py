from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from executions.models import ToolCallHour, ToolExecution
from executions.rollup import duration_bucket, rollup_executions
from executions.selectors import tool_call_stats

pytestmark = pytest.mark.django_db


def _execution(tool: str, status: str, duration_ms: int, hours_ago: float = 1) -> ToolExecution:
    row = ToolExecution.objects.create(tool_name=tool, via="api", status=status, duration_ms=duration_ms)
    ToolExecution.objects.filter(pk=row.pk).update(created=timezone.now() - timedelta(hours=hours_ago))
    return row


def test_stats_give_calls_error_rate_and_percentiles_per_tool():
    for ms in range(1, 101):  # 1..100 ms
        _execution("calculate", "success", ms)
    _execution("fetch_url", "success", 50)
    _execution("fetch_url", "error", 70)
    _execution("fetch_url", "timeout", 90)
    _execution("calculate", "success", 5, hours_ago=30)  # outside the window

    stats = {t.tool_name: t for t in tool_call_stats(hours=24).tools}
    assert stats["calculate"].calls == 100
    assert (stats["calculate"].p50_ms, stats["calculate"].p95_ms) == (50, 95)
    assert stats["fetch_url"].calls == 3 and stats["fetch_url"].errors == 2
    assert stats["fetch_url"].error_rate == pytest.approx(2 / 3)


def test_admin_index_shows_the_stats_and_an_inline_svg_chart(client, admin_user):
    _execution("calculate", "success", 12)
    _execution("calculate", "error", 30)
    client.force_login(admin_user)
    html = client.get("/admin/").content.decode()
    assert "Tool calls, last 24 hours (2 in all)" in html
    assert "<svg" in html and "calculate" in html and "50%" in html
    assert "http://" not in html.split("<svg", 1)[1].split("</svg>", 1)[0]


def test_admin_shows_execution_detail_read_only(client, admin_user):
    row = _execution("calculate", "success", 12)
    client.force_login(admin_user)
    response = client.get(f"/admin/executions/toolexecution/{row.pk}/change/")
    assert response.status_code == 200
    assert 'name="_save"' not in response.content.decode()
    listing = client.get("/admin/executions/toolexecution/?status__exact=success&via__exact=api")
    assert listing.status_code == 200 and "calculate" in listing.content.decode()


def _finished(tool: str, status: str, duration_ms: int | None, hours_ago: float) -> ToolExecution:
    created = timezone.now() - timedelta(hours=hours_ago)
    return ToolExecution.objects.create(
        tool_name=tool, via="mcp", status=status, duration_ms=duration_ms, created=created, started=created,
        finished=None if status in ("running", "pending") else created,
    )


def test_rolled_up_hours_give_the_same_figures_as_the_rows():
    """The dashboard reads ToolCallHour and the rows not rolled up yet: rolling up changes
    nothing it shows, each row is counted once, and a call still running is counted when
    it ends."""
    for n in range(300):
        status = ["success", "success", "error", "timeout", "cancelled"][n % 5]
        _finished(["calculate", "fetch_url", "summarize"][n % 3], status, (n * 37) % 4000, hours_ago=(n % 23) + 0.5)
    running = _finished("calculate", "running", None, hours_ago=0.1)
    _finished("calculate", "success", 10, hours_ago=25)  # outside the window, rolled up all the same

    before = tool_call_stats()
    assert rollup_executions() == 300 + 1
    assert rollup_executions() == 0  # nothing is counted twice
    assert tool_call_stats() == before
    assert ToolCallHour.objects.count() > 3 * 20
    assert not ToolExecution.objects.filter(status="success", rolled_up=False).exists()

    ToolExecution.objects.filter(pk=running.pk).update(status="error", duration_ms=5000, finished=timezone.now())
    ended = tool_call_stats()
    calc_before = next(t for t in before.tools if t.tool_name == "calculate")
    calc_ended = next(t for t in ended.tools if t.tool_name == "calculate")
    assert (calc_ended.calls, calc_ended.errors) == (calc_before.calls, calc_before.errors + 1)
    assert rollup_executions() == 1
    assert tool_call_stats() == ended
    assert sum(calls for _, calls, _ in ended.hourly) == ended.total_calls == 301


def test_durations_above_100_ms_are_bucketed_to_two_significant_figures():
    assert [duration_bucket(ms) for ms in (0, 99, 100, 123, 999, 1234, 98_765)] == [0, 99, 100, 120, 990, 1200, 98_000]
    for ms in (1234, 1299, 5000, 5001):
        _execution("summarize", "success", ms)
    stats = {t.tool_name: t for t in tool_call_stats(hours=24).tools}
    assert (stats["summarize"].p50_ms, stats["summarize"].p95_ms) == (1200, 5000)


def test_the_execution_list_filters_by_mode_and_server_without_reading_the_history(client, admin_user):
    """Mode and server offer known values (the modes, the configured servers), not a
    SELECT DISTINCT over every execution; each still filters the list."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tools.federation.models import RemoteServer

    RemoteServer.objects.create(name="docs", url="http://127.0.0.1:9/mcp")
    ToolExecution.objects.create(tool_name="calculate", via="api", status="success", mode="inline")
    ToolExecution.objects.create(tool_name="docs.search", server="docs", via="mcp", status="success", mode="background")
    client.force_login(admin_user)
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/admin/executions/toolexecution/").content.decode()
    assert not [q["sql"] for q in queries if "DISTINCT" in q["sql"] and ("mode" in q["sql"] or "server" in q["sql"])]
    assert "?mode=background" in page and "?server=docs" in page and "built-in" in page
    def listed(query: str) -> set[str]:
        html = client.get(f"/admin/executions/toolexecution/?{query}").content.decode()
        return {name for name in ("calculate", "docs.search") if f'field-tool_name">{name}<' in html}

    assert listed("") == {"calculate", "docs.search"}
    assert listed("mode=background") == {"docs.search"}
    assert listed("mode=inline") == {"calculate"}
    assert listed("server=") == {"calculate"}
    assert listed("server=docs") == {"docs.search"}
