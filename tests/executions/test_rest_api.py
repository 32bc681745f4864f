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
    challenge = response.headers["WWW-Authenticate"]
    # Where an OAuth client learns how to get a token (RFC 9728), and what to ask for.
    assert challenge.startswith("Bearer ")
    assert 'resource_metadata="http://testserver/.well-known/oauth-protected-resource"' in challenge
    assert 'scope="tools:read tools:call executions:read"' in challenge


def test_it_rate_limits_with_retry_after(api_client, settings):
    settings.TOOL_RATE_LIMIT = "2/m"
    for _ in range(2):
        assert api_client.post(
            "/api/v1/tools/text_statistics/execute/", {"arguments": {"text": "x"}}, format="json"
        ).status_code == 200
    response = api_client.post("/api/v1/tools/text_statistics/execute/", {"arguments": {"text": "x"}}, format="json")
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_an_oversize_body_gets_413_and_records_nothing(api_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api_client.post(
        "/api/v1/tools/text_statistics/execute/", {"arguments": {"text": "x" * 5000}}, format="json"
    )
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"
    assert ToolExecution.objects.count() == 0


def test_an_expired_token_is_refused(api_client, user):
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import APIToken

    APIToken.objects.filter(user=user).update(expiry=timezone.now() - timedelta(seconds=1))
    assert api_client.get("/api/v1/tools/").status_code == 401


def test_arguments_must_be_an_object(api_client):
    response = api_client.post("/api/v1/tools/text_statistics/execute/", {"arguments": [1, 2]}, format="json")
    assert response.status_code == 400
    assert "arguments" in response.json()["errors"]


def test_users_see_their_own_executions_and_admins_see_all(api_client, user, admin_user):
    from rest_framework.test import APIClient

    api_client.post("/api/v1/tools/text_statistics/execute/", {"arguments": {"text": "mine"}}, format="json")
    ToolExecution.objects.create(tool_name="text_statistics", via="cli", user=admin_user, status="success")
    mine = api_client.get("/api/v1/executions/").json()
    assert mine["count"] == 1 and mine["results"][0]["user"] == "alice"

    admin = APIClient()
    admin.force_authenticate(admin_user)
    assert admin.get("/api/v1/executions/").json()["count"] == 2
    assert admin.get("/api/v1/executions/?via=cli").json()["count"] == 1
    assert admin.get("/api/v1/executions/?tool=text_statistics&status=success").json()["count"] == 2
    assert admin.get("/api/v1/executions/?status=bogus").status_code == 400

    other = ToolExecution.objects.get(via="cli")
    assert api_client.get(f"/api/v1/executions/{other.pk}/").status_code == 404
    assert api_client.post(f"/api/v1/executions/{other.pk}/cancel/").status_code == 404


def test_cancel_of_a_pending_execution_marks_it_cancelled(api_client, user):
    row = ToolExecution.objects.create(tool_name="analyze_document", via="api", user=user, status="pending",
                                       mode="background")
    response = api_client.post(f"/api/v1/executions/{row.pk}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    row.refresh_from_db()
    assert row.status == "cancelled" and row.finished is not None


def test_sessions_list_the_api_session_with_its_calls(api_client):
    for _ in range(2):
        api_client.post("/api/v1/tools/text_statistics/execute/", {"arguments": {"text": "a b"}}, format="json")
    sessions = api_client.get("/api/v1/sessions/").json()["results"]
    assert len(sessions) == 1
    assert sessions[0]["kind"] == "api" and sessions[0]["executions"] == 2


def test_tool_detail_and_unknown_tool_detail(api_client):
    assert api_client.get("/api/v1/tools/text_statistics/").json()["mode"] == "inline"
    response = api_client.get("/api/v1/tools/nope/")
    assert response.status_code == 404 and response.json()["code"] == "tool_not_found"


def test_an_unknown_execution_id_gets_404_in_the_error_shape(api_client):
    response = api_client.get("/api/v1/executions/00000000-0000-4000-8000-000000000000/")
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == "not_found" and body["message"]
    assert "detail" not in body


def test_another_users_execution_gets_the_same_404(api_client, admin_user):
    other = ToolExecution.objects.create(tool_name="calculate", via="api", status="success", user=admin_user)
    response = api_client.post(f"/api/v1/executions/{other.pk}/cancel/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


@pytest.mark.parametrize("path", [
    "/api/v1/executions/not-a-uuid/",
    "/api/v1/executions/------------------------------------/",
    "/api/v1/sessions/not-a-uuid/",
    "/api/v1/nothing-here/",
    "/api/v2/tools/",
    "/api/",
])
def test_any_unknown_api_path_gets_404_in_the_error_shape(api_client, path):
    response = api_client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == "not_found" and body["message"]


def test_a_missing_page_outside_the_api_stays_an_html_page(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("path", ["/api/v1/executions/", "/api/v1/sessions/"])
@pytest.mark.parametrize("query", ["limit=99999999999999999999", "offset=99999999999999999999", "limit=501"])
def test_a_page_past_the_bounds_is_answered_within_them(api_client, path, query):
    for _ in range(2):
        api_client.post("/api/v1/tools/text_statistics/execute/", {"arguments": {"text": "a b"}}, format="json")
    response = api_client.get(f"{path}?{query}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert len(body["results"]) == (0 if query.startswith("offset") else body["count"])


@pytest.mark.parametrize("body", [
    b'{"arguments": {"expression": "1+1", "x": ' + b"[" * 2_000 + b"]" * 2_000 + b"}}",
    b'{"arguments": ' + b"[" * 100_000,
    b'{"arguments": {"expression": "1+1", "x": NaN}}',
    b'{"arguments": {"expression": "1+1", "x": 1e999}}',
])
def test_a_nesting_bomb_or_a_number_outside_json_is_a_400_parse_error_and_records_nothing(api_client, body):
    response = api_client.post("/api/v1/tools/calculate/execute/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "parse_error"
    assert not ToolExecution.objects.exists()


def test_arguments_nested_past_the_argument_limit_are_refused_as_invalid_and_record_nothing(api_client):
    deep: list = []
    for _ in range(40):
        deep = [deep]
    response = api_client.post(
        "/api/v1/tools/calculate/execute/", {"arguments": {"expression": "1+1", "x": deep}}, format="json"
    )
    assert response.status_code == 400
    assert "deeper than 32 levels" in str(response.json())
    assert not ToolExecution.objects.exists()


def test_an_admin_tool_answers_a_user_exactly_as_an_unknown_tool(api_client):
    from tools.base import Role, Tool
    from tools.registry import registry

    class AdminOnly(Tool):
        name = "test_rest_admin_only"
        required_role = Role.ADMIN

        def run(self, arguments, ctx):
            return {}

    registry.register(AdminOnly, replace=True)
    try:
        hidden = api_client.post(f"/api/v1/tools/{AdminOnly.name}/execute/", {"arguments": {}}, format="json")
        unknown = api_client.post("/api/v1/tools/test_rest_no_such/execute/", {"arguments": {}}, format="json")
        detail = api_client.get(f"/api/v1/tools/{AdminOnly.name}/")
    finally:
        registry.unregister(AdminOnly.name)
    assert hidden.status_code == unknown.status_code == detail.status_code == 404
    assert hidden.json()["code"] == unknown.json()["code"] == "tool_not_found"
    assert hidden.json()["message"] == unknown.json()["message"].replace("test_rest_no_such", AdminOnly.name)
    assert not ToolExecution.objects.exists()


@pytest.mark.parametrize("depth", [70, 990, 1_500])
def test_a_stored_value_too_deep_to_show_does_not_break_the_pages_that_show_its_row(
    api_client, client, admin_user, depth
):
    """Rows written before the doors limited nesting (or by other means): the API's list
    and detail, and the admin's list and change page, still answer, with a marker."""
    from django.db import connection

    api_client.post("/api/v1/tools/text_statistics/execute/", {"arguments": {"text": "a b"}}, format="json")
    row = ToolExecution.objects.get()
    with connection.cursor() as cursor:  # past the doors, straight into the column
        cursor.execute(
            f"UPDATE {ToolExecution._meta.db_table} SET arguments = %s, result = %s WHERE id = %s",
            ["[" * depth + "]" * depth, '{"a": ' + "[" * depth + "]" * depth + "}", row.pk.hex
             if connection.vendor == "sqlite" else row.pk],
        )
    detail = api_client.get(f"/api/v1/executions/{row.pk}/")
    assert detail.status_code == 200
    assert "cannot be shown" in detail.json()["arguments"]["not_shown"]
    assert api_client.get("/api/v1/executions/").status_code == 200

    client.force_login(admin_user)
    assert client.get("/admin/executions/toolexecution/").status_code == 200
    page = client.get(f"/admin/executions/toolexecution/{row.pk}/change/")
    assert page.status_code == 200 and b"cannot be shown" in page.content


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_auth_scheme_is_case_insensitive(client, token, scheme):
    """RFC 7235: the scheme name is case-insensitive (a lower-case one answered 500 once)."""
    headers = {"HTTP_AUTHORIZATION": f"{scheme} {token}"}
    assert client.get("/api/v1/tools/", **headers).status_code == 200
    response = client.post("/api/v1/tools/text_statistics/execute/", {"arguments": {"text": "Hi there."}},
                           content_type="application/json", **headers)
    assert response.status_code == 200 and response.json()["status"] == "success"


@pytest.mark.parametrize("header", ["bearer", "bearer  ", "Bearer\t", "bearer x y z", "Basic dTpw", "bearer \u00e9"])
def test_a_malformed_authorization_header_is_401_json(client, header):
    response = client.get("/api/v1/tools/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401 and response.json()["code"]


def test_wait_on_an_execution_is_validated_and_answers_at_once_when_it_has_ended(api_client):
    """``GET ?wait=N`` and ``Prefer: wait=N`` (the waits themselves are tested against a
    real worker in test_worker.py): a bad value is a 400, an ended call answers at once,
    an inline call ignores the preference."""
    done = api_client.post(
        "/api/v1/tools/text_statistics/execute/", {"arguments": {"text": "One two."}}, format="json",
        HTTP_PREFER="wait=5",
    )
    assert done.status_code == 200 and "Preference-Applied" not in done
    url = f"/api/v1/executions/{done.json()['id']}/"
    assert api_client.get(f"{url}?wait=5").json()["status"] == "success"
    for bad in ("abc", "-1", "61", "1.5"):
        response = api_client.get(f"{url}?wait={bad}")
        assert response.status_code == 400 and "wait" in response.json()["errors"], bad
