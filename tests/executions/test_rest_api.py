from __future__ import annotations

import pytest

from executions.models import ToolExecution

pytestmark = pytest.mark.django_db


def test_it_lists_tools_with_their_schemas(api_client):
    response = api_client.get("/api/v1/tools/")
    assert response.status_code == 200
    tools = {t["name"]: t for t in response.json()}
    assert "text_statistics" in tools
    schema = tools["text_statistics"]["input_schema"]
    assert schema["properties"]["text"]["type"] == "string"
    assert tools["text_statistics"]["annotations"]["readOnlyHint"] is True


def test_it_executes_a_tool_and_records_the_execution(api_client, user):
    response = api_client.post(
        "/api/v1/tools/text_statistics/execute/",
        {"arguments": {"text": "One two three. Four five!"}},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "success"
    assert body["result"]["words"] == 5
    assert body["result"]["sentences"] == 2
    row = ToolExecution.objects.get(pk=body["id"])
    assert row.user == user
    assert row.via == "api"
    assert row.session.kind == "api"
    assert row.duration_ms is not None


def test_it_rejects_unknown_tool_with_404(api_client):
    response = api_client.post("/api/v1/tools/nope/execute/", {"arguments": {}}, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "tool_not_found"
    assert ToolExecution.objects.count() == 0


def test_it_rejects_wrong_argument_types_with_400(api_client):
    response = api_client.post(
        "/api/v1/tools/text_statistics/execute/", {"arguments": {"text": 12}}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_arguments"
    assert body["errors"][0]["loc"] == "text"
    assert ToolExecution.objects.count() == 0


def test_it_rejects_malformed_json_with_400(api_client):
    response = api_client.post(
        "/api/v1/tools/text_statistics/execute/", data="{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_it_requires_a_token(client):
    response = client.get("/api/v1/tools/")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_it_rate_limits_with_retry_after(api_client, settings):
    settings.TOOL_RATE_LIMIT = "2/m"
    for _ in range(2):
        assert api_client.post(
            "/api/v1/tools/text_statistics/execute/", {"arguments": {"text": "x"}}, format="json"
        ).status_code == 200
    response = api_client.post("/api/v1/tools/text_statistics/execute/", {"arguments": {"text": "x"}}, format="json")
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
