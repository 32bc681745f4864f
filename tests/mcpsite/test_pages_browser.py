"""The admin dashboard, the home page and the API docs in a real browser (Debian's
Chromium driven by Playwright) at 1280 px, served by pytest-django's live server."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from executions.models import ToolExecution
from tests.browser import chromium

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SHOTS = Path(__file__).resolve().parents[2] / "data" / "screenshots"


@pytest.fixture(scope="module")
def _sync_orm_beside_playwright():
    # Playwright's sync API keeps an event loop running in this thread; the test's own ORM
    # calls are still plain synchronous code (Playwright's documented Django advice).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="module")
def browser(_sync_orm_beside_playwright):
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser, live_server):
    """A 1280 px wide page that may reach only the live server; other requests are recorded."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.foreign_requests = []

    def route(route):
        if route.request.url.startswith(live_server.url):
            route.continue_()
        else:
            page.foreign_requests.append(route.request.url)
            route.abort()

    page.route("**/*", route)
    yield page
    context.close()


def sign_in(page, live_server, client, user) -> None:
    client.force_login(user)
    cookie = client.cookies["sessionid"]
    page.context.add_cookies([{"name": "sessionid", "value": cookie.value, "url": live_server.url}])


def calls() -> None:
    now = timezone.now()
    for i, (tool, status, ms) in enumerate([("calculate", "success", 12), ("calculate", "error", 30),
                                            ("text_statistics", "success", 8), ("analyze_document", "timeout", 900)]):
        row = ToolExecution.objects.create(tool_name=tool, via="api", status=status, duration_ms=ms)
        ToolExecution.objects.filter(pk=row.pk).update(created=now - timedelta(hours=i, seconds=i * 7))


def test_the_dashboards_table_header_reads_in_one_line_at_1280_px(page, live_server, client, admin_user):
    calls()
    sign_in(page, live_server, client, admin_user)
    page.goto(f"{live_server.url}/admin/")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "admin-index-1280.png"), full_page=True)
    headers = page.locator("#tool-stats thead th")
    assert headers.count() == 5
    body_line = page.locator("#tool-stats tbody td").first.bounding_box()["height"]
    for i in range(headers.count()):
        header = headers.nth(i)
        box = header.bounding_box()
        text = header.inner_text()
        # One line of text: no taller than a body row, and wide enough for the whole word.
        assert box["height"] <= body_line * 1.5, (text, box)
        assert box["width"] >= len(text) * 6, (text, box)
    table = page.locator("#tool-stats table").bounding_box()
    assert table["width"] >= 600, table
    assert page.foreign_requests == []


def test_the_dashboards_chart_has_a_legend(page, live_server, client, admin_user):
    calls()
    sign_in(page, live_server, client, admin_user)
    page.goto(f"{live_server.url}/admin/")
    legend = page.locator("#tool-stats .hub-legend")
    assert legend.is_visible()
    text = legend.inner_text()
    assert "calls" in text.lower() and "failed" in text.lower()
    # The legend's swatches have the bars' colours.
    colours = page.evaluate(
        """() => [...document.querySelectorAll('#tool-stats .hub-legend .swatch')].map(
             (s) => getComputedStyle(s).backgroundColor)"""
    )
    bars = page.evaluate(
        """() => ['rect.calls', 'rect.failed'].map(
             (sel) => getComputedStyle(document.querySelector('#tool-stats ' + sel)).fill)"""
    )
    assert colours == bars


def test_the_execution_list_shows_times_with_seconds(page, live_server, client, admin_user):
    calls()
    sign_in(page, live_server, client, admin_user)
    page.goto(f"{live_server.url}/admin/executions/toolexecution/")
    cells = page.locator("#result_list tbody td.field-created, #result_list tbody th.field-created")
    assert cells.count() == 4
    texts = [cells.nth(i).inner_text() for i in range(cells.count())]
    assert all(re.search(r"\d{2}:\d{2}:\d{2}", text) for text in texts), texts
    assert len(set(texts)) == 4


def test_the_home_page_at_1280_px(page, live_server, client, user):
    sign_in(page, live_server, client, user)
    page.goto(f"{live_server.url}/")
    page.screenshot(path=str(SHOTS / "home-1280.png"), full_page=True)
    assert page.locator("#mcp-url").input_value() == f"{live_server.url}/mcp"
    assert page.locator("#home-tokens").is_visible() and page.locator("#home-executions").is_visible()
    for i in range(page.locator("#home-tokens thead th").count()):
        box = page.locator("#home-tokens thead th").nth(i).bounding_box()
        assert box["height"] < 40, box
    assert page.foreign_requests == []


def test_redoc_renders_without_fetching_anything_from_elsewhere(page, live_server):
    page.goto(f"{live_server.url}/api/redoc/")
    page.wait_for_selector("text=mcpsite API")
    page.wait_for_selector("text=/api/v1/tools/", state="attached")
    # The logo the bundle would take from cdn.redoc.ly is stopped by the page's policy
    # before any request leaves the browser; Google Fonts are not asked for at all.
    assert page.foreign_requests == []


def test_swaggers_authorize_offers_a_bearer_token(page, live_server):
    page.goto(f"{live_server.url}/api/docs/")
    page.click("button.authorize")
    dialog = page.locator(".modal-ux")
    dialog.wait_for()
    text = dialog.inner_text()
    assert "bearerAuth" in text and "Bearer" in text
    assert dialog.locator("input[type=text], input[type=password]").count() >= 1
    assert page.foreign_requests == []
