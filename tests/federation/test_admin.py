"""The remote servers' admin: list page and the "test connection" / "sync tools" actions."""

from __future__ import annotations

import pytest

from tests.federation.conftest import add_stdio, free_port
from tools.federation.models import RemoteServer
from tools.federation.services import remote_server_create

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHANGELIST = "/admin/federation/remoteserver/"


def run_action(client, action: str, server: RemoteServer) -> str:
    response = client.post(CHANGELIST, {"action": action, "_selected_action": [server.pk]}, follow=True)
    assert response.status_code == 200
    return " | ".join(str(m) for m in response.context["messages"])


def test_the_admin_lists_servers_and_tests_and_syncs_them(client, admin_user):
    client.force_login(admin_user)
    server = add_stdio("py")

    page = client.get(CHANGELIST)
    assert page.status_code == 200 and b"py" in page.content
    assert client.get(f"{CHANGELIST}{server.pk}/change/").status_code == 200

    assert "py: connected (2026-07-28, 12 tools)." in run_action(client, "test_connection", server)
    assert "py: 12 tools synced." in run_action(client, "sync_tools", server)


def test_the_admin_says_why_a_server_cannot_be_reached(client, admin_user):
    client.force_login(admin_user)
    server = remote_server_create(name="gone", url=f"http://127.0.0.1:{free_port()}/mcp")

    assert "gone: ConnectError" in run_action(client, "test_connection", server)
    assert "Remote server 'gone' is unreachable: ConnectError" in run_action(client, "sync_tools", server)


def test_a_failing_servers_tools_stay_listed_in_the_admin_with_its_error(client, admin_user):
    from tools.federation.services import signals_quiet

    client.force_login(admin_user)
    with signals_quiet():  # stored as after a failed check; nothing connects
        server = RemoteServer.objects.create(
            name="gone", url="http://127.0.0.1:9/mcp", healthy=False, last_error="ConnectError: refused",
            tools=[{"name": "lookup", "inputSchema": {"type": "object"}}],
        )

    page = client.get(f"{CHANGELIST}{server.pk}/change/").content.decode()

    assert "gone__lookup" in page
    assert "ConnectError: refused" in page
