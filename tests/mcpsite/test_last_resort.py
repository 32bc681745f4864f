"""A defect that slips through still answers in the door's language: JSON with a request
id under /api/ and on /mcp, never the HTML error page (the traceback goes to the log)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from mcp_server import http as mcp_http


@pytest.fixture
def failing_site(settings):
    settings.ROOT_URLCONF = "tests.mcpsite.boom_urls"
    return Client(raise_request_exception=False)


def test_an_unexpected_error_under_the_api_is_json_with_the_request_id(failing_site, caplog):
    response = failing_site.get("/api/v1/boom/")
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "server_error" and body["request_id"] == response["X-Request-ID"]
    assert any("a defect that slipped through" in (r.exc_text or str(r.exc_info)) for r in caplog.records)


# The handler closes the broken connection, which reads its state when this thread has
# one open (left by an earlier test: connections are kept, CONN_MAX_AGE=None).
@pytest.mark.django_db
def test_a_lost_database_connection_under_the_api_is_a_503_to_retry(failing_site):
    """A PostgreSQL restart or failover fails the request in flight, not as a defect
    (tests/faults/test_postgres_down.py cuts real connections under a running hub)."""
    response = failing_site.get("/api/v1/database-gone/")
    assert response.status_code == 503 and response["Retry-After"]
    assert response.json()["code"] == "database_unavailable"


def test_an_unexpected_error_outside_the_api_stays_the_html_page(failing_site):
    response = failing_site.get("/boom/")
    assert response.status_code == 500 and response["Content-Type"].startswith("text/html")


async def test_an_unexpected_error_in_the_mcp_transport_is_a_json_rpc_error(settings, monkeypatch, caplog):
    settings.MCP_ALLOW_ANONYMOUS = True

    async def broken(self, scope, receive, send):
        raise RuntimeError("a defect in the transport")

    monkeypatch.setattr(mcp_http.StreamableHTTPSessionManager, "handle_request", broken)
    app = mcp_http.MCPApplication()
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}).encode()
    scope = {
        "type": "http", "method": "POST", "path": "/mcp", "query_string": b"", "scheme": "http",
        "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                    (b"accept", b"application/json, text/event-stream")],
    }
    sent: list[dict] = []
    chunks = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        return chunks.pop(0) if chunks else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    try:
        await app(scope, receive, send)
    finally:
        await app.shutdown()
    assert sent[0]["status"] == 500
    answer = json.loads(b"".join(m.get("body", b"") for m in sent[1:]))
    assert answer["error"]["code"] == -32603 and answer["error"]["data"]["request_id"]
    assert any(answer["error"]["data"]["request_id"] in r.getMessage() for r in caplog.records)
