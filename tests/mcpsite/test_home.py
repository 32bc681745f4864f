"""The home page at /: what the hub is and where each door is."""

from __future__ import annotations

import re

import pytest

from accounts.services import token_create
from executions.models import ToolExecution

pytestmark = pytest.mark.django_db


def test_it_explains_the_hub_and_links_every_door(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Model Context Protocol tool hub" in html
    assert 'value="http://testserver/mcp"' in html
    links = set(re.findall(r'href="([^"]+)"', html))
    for path in ("/admin/", "/api/docs/", "/api/redoc/", "/addin/taskpane/", "/addin/manifest.xml", "/metrics",
                 "/healthz", "/readyz"):
        assert path in links, path
    # Every page it links to is there.
    for path in ("/api/docs/", "/addin/taskpane/", "/healthz", "/metrics"):
        assert client.get(path).status_code == 200, path


def test_it_uses_the_sites_look(client):
    html = client.get("/").content.decode()
    assert "/static/admin/css/base.css" in html
    assert 'id="site-name"' in html


def test_a_visitor_is_offered_to_sign_in_and_sees_no_ones_data(client, user):
    token_create(user=user, name="laptop")
    html = client.get("/").content.decode()
    assert "/api-auth/login/?next=/" in html
    assert "laptop" not in html and "home-tokens" not in html


def test_a_signed_in_user_sees_their_tokens_and_recent_executions(client, user, admin_user):
    row, _ = token_create(user=user, name="laptop")
    token_create(user=admin_user, name="admins-phone")
    mine = ToolExecution.objects.create(tool_name="calculate", via="api", status="success", user=user, duration_ms=12)
    ToolExecution.objects.create(tool_name="fetch_url", via="api", status="error", user=admin_user)
    client.force_login(user)
    html = client.get("/").content.decode()
    tokens = html.split('id="home-tokens"', 1)[1].split("</table>", 1)[0]
    assert "laptop" in tokens and row.token_key in tokens and "admins-phone" not in tokens
    executions = html.split('id="home-executions"', 1)[1].split("</table>", 1)[0]
    assert "calculate" in executions and f"/api/v1/executions/{mine.pk}/" in executions
    assert "fetch_url" not in executions


def test_it_only_answers_get(client):
    assert client.post("/").status_code == 405
