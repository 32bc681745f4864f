"""The remote servers' admin: list page and the "test connection" / "sync tools" actions."""

from __future__ import annotations

import pytest

from tests.federation.conftest import add_stdio, free_port
from tools.federation.models import RemoteServer
from tools.federation.services import remote_server_create

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHANGELIST = "/admin/federation/remoteserver/"


def run_action(client, action: str, server: RemoteServer) -> str:  # noqa: ANN001
    response = client.post(CHANGELIST, {"action": action, "_selected_action": [server.pk]}, follow=True)
    assert response.status_code == 200
    return " | ".join(str(m) for m in response.context["messages"])


def test_the_admin_lists_servers_and_tests_and_syncs_them(client, admin_user):
    client.force_login(admin_user)
    server = add_stdio("py")

    page = client.get(CHANGELIST)
    assert page.status_code == 200 and b"py" in page.content
    assert client.get(f"{CHANGELIST}{server.pk}/change/").status_code == 200

    assert "py: connected (2026-07-28, 10 tools)." in run_action(client, "test_connection", server)
    assert "py: 10 tools synced." in run_action(client, "sync_tools", server)


def test_the_admin_says_why_a_server_cannot_be_reached(client, admin_user):
    client.force_login(admin_user)
    server = remote_server_create(name="gone", url=f"http://127.0.0.1:{free_port()}/mcp")

    assert "gone: ConnectError" in run_action(client, "test_connection", server)
    assert "Remote server 'gone' is unreachable: ConnectError" in run_action(client, "sync_tools", server)
