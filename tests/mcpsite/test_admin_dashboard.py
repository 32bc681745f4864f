from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from executions.models import ToolExecution
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
