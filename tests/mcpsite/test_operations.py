from __future__ import annotations

import json
import logging
import threading

import pytest

pytestmark = pytest.mark.django_db


def test_healthz_answers_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_each_part(client):
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] in ("ok", "degraded")
    for part in ("database", "cache", "channel_layer", "broker", "mcp"):
        assert body["checks"][part]["status"] == "ok", body


@pytest.fixture
def fresh_tool_pool_start(monkeypatch):
    """This process's tool pool as if no request had started it yet (restored after)."""
    from executions import toolpool

    monkeypatch.setattr(toolpool, "_pool", None)
    monkeypatch.setattr(toolpool, "_warming", False)
    monkeypatch.setattr(toolpool, "_start_ended", threading.Event())
    monkeypatch.setattr(toolpool, "_start_error", "")
    return toolpool


def test_readyz_says_starting_until_the_tool_processes_are_up(client, monkeypatch, fresh_tool_pool_start):
    toolpool = fresh_tool_pool_start
    up = threading.Event()
    # Stands in for the fork server importing Django and the tool libraries (seconds);
    # tests/mcp_server/test_http.py sees the real one through a live server.
    monkeypatch.setattr(toolpool.ToolPool, "prestart", lambda pool: up.wait(30))
    assert client.get("/readyz").json()["checks"]["tool_processes"]["status"] == "ok"  # none started here yet

    toolpool.start_in_background()  # as a serving process's first request does
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "starting"
    assert response.json()["checks"]["tool_processes"]["status"] == "starting"
    assert response.json()["checks"]["database"]["status"] == "ok"

    up.set()
    assert toolpool.wait_for_start(timeout=30)
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"]["tool_processes"]["status"] == "ok"


def test_readyz_names_tool_processes_that_could_not_start_as_degraded_until_a_call_starts_one(
    client, monkeypatch, fresh_tool_pool_start, user,
):
    from executions.models import ToolExecution, Via
    from executions.services import execute_tool

    toolpool = fresh_tool_pool_start

    def fails(pool):
        raise OSError("the fork server could not start")

    monkeypatch.setattr(toolpool.ToolPool, "prestart", fails)
    toolpool.start_in_background()
    assert toolpool.wait_for_start(timeout=30)

    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["tool_processes"] == {
        "status": "degraded", "error": "OSError: the fork server could not start",
    }

    # A call starts a (real) tool process on demand: the pool is ready from then on.
    try:
        call = execute_tool(user=user, tool_name="text_statistics", arguments={"text": "One. Two."}, via=Via.API)
        assert call.status == ToolExecution.Status.SUCCESS, call.error
        response = client.get("/readyz")
        assert response.json()["checks"]["tool_processes"]["status"] == "ok", response.json()
    finally:
        toolpool.get_pool().close()


def test_readyz_names_a_failing_broker_as_degraded_the_hub_still_serving_inline_calls(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    from mcpsite.celery import app

    previous = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    try:
        response = client.get("/readyz")
    finally:
        app.conf.broker_url = previous
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["broker"]["status"] == "degraded"
    assert response.json()["checks"]["broker"]["error"]
    assert response.json()["checks"]["database"]["status"] == "ok"


def test_metrics_count_tool_calls_by_tool_and_status(client, api_client):
    api_client.post("/api/v1/tools/text_statistics/execute/", {"arguments": {"text": "Metrics matter."}}, format="json")
    text = client.get("/metrics").content.decode()
    assert 'mcpsite_tool_calls_total{status="success",tool="text_statistics",via="api"}' in text
    assert "mcpsite_tool_call_duration_seconds_bucket" in text
    assert "django_http_requests_total_by_method_total" in text


def test_every_response_carries_a_request_id(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-ID"] == "abc-123"
    forged = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert forged["X-Request-ID"] != "bad id\nwith newline" and len(forged["X-Request-ID"]) == 32


def test_log_lines_are_json_with_the_request_id():
    from django.conf import settings
    from pythonjsonlogger.json import JsonFormatter

    from mcpsite.logging import RequestIdFilter, request_id_var

    fmt = settings.LOGGING["formatters"]["json"]
    formatter = JsonFormatter(fmt["fmt"], rename_fields=fmt["rename_fields"])
    record = logging.LogRecord("mcpsite.test", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    token = request_id_var.set("req-42")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id_var.reset(token)
    line = json.loads(formatter.format(record))
    assert line["message"] == "hello world"
    assert line["request_id"] == "req-42"
    assert line["level"] == "INFO"


def test_openapi_schema_describes_the_api(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert "/api/v1/tools/{name}/execute/" in schema["paths"]
    assert "/api/v1/executions/{id}/cancel/" in schema["paths"]


def test_api_docs_page_is_served_without_a_cdn(client):
    html = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in html
    assert "cdn.jsdelivr" not in html and "unpkg.com" not in html
