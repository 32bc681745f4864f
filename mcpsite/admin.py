from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest
from django.template.response import TemplateResponse


class HubAdminSite(admin.AdminSite):
    site_header = "mcpsite"
    site_title = "mcpsite admin"
    index_title = "Tool hub"
    index_template = "admin/hub_index.html"

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        from executions.selectors import tool_call_stats

        stats = tool_call_stats(hours=24)
        context = {"stats": stats, "chart": _hourly_chart(stats.hourly), **(extra_context or {})}
        return super().index(request, extra_context=context)


class HubAdminConfig(AdminConfig):
    default_site = "mcpsite.admin.HubAdminSite"


CHART_HEIGHT = 120
BAR_WIDTH = 22


def _hourly_chart(hourly: list[tuple[Any, int, int]]) -> dict[str, Any]:
    """Bar geometry for the admin's SVG chart of calls per hour (drawn server-side: no CDN)."""
    peak = max((calls for _, calls, _ in hourly), default=0) or 1
    bars = []
    for i, (hour, calls, failed) in enumerate(hourly):
        height = round(calls / peak * CHART_HEIGHT)
        failed_height = round(failed / peak * CHART_HEIGHT)
        bars.append({
            "x": i * BAR_WIDTH + 30, "y": CHART_HEIGHT - height + 10, "height": height,
            "failed_y": CHART_HEIGHT - failed_height + 10, "failed_height": failed_height,
            "calls": calls, "failed": failed, "hour": hour, "label_x": i * BAR_WIDTH + 30 + BAR_WIDTH // 2 - 2,
        })
    return {"bars": bars, "peak": peak, "width": len(hourly) * BAR_WIDTH + 40, "height": CHART_HEIGHT + 40,
            "bar_width": BAR_WIDTH - 4, "baseline": CHART_HEIGHT + 10}
