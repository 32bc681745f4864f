"""Remote servers' secrets at rest: encrypted in the database, write-only in the admin, rotatable."""

from __future__ import annotations

import io
import logging

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection

from tools.federation.models import RemoteServer
from tools.federation.pool import ServerConfig
from tools.federation.secrets import Sealed, derived_key
from tools.federation.services import remote_server_create

pytestmark = [pytest.mark.django_db(transaction=True)]

CHANGE = "/admin/federation/remoteserver/{}/change/"


def stored_columns(pk: int) -> tuple[str, str]:
    table = connection.ops.quote_name(RemoteServer._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT secret, secret_headers FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()


def test_it_stores_the_secret_and_secret_headers_encrypted_and_reads_them_back(settings):
    server = remote_server_create(
        name="web", url="http://127.0.0.1:9/mcp", secret="bearer-123", secret_headers=["X-Api-Key: key-456"]
    )

    secret, headers = stored_columns(server.pk)
    assert "bearer-123" not in secret and "key-456" not in headers
    assert Fernet(derived_key(settings.SECRET_KEY).encode()).decrypt(secret.encode()) == b"bearer-123"
    again = RemoteServer.objects.get(pk=server.pk)
    assert again.secret == "bearer-123"
    assert again.secret_headers == {"X-Api-Key": "key-456"}
    config = ServerConfig.from_server(again)
    assert dict(config.headers) == {"X-Api-Key": "key-456", "Authorization": "Bearer bearer-123"}
    assert "bearer-123" not in repr(config) and "key-456" not in repr(config)


def test_the_rotate_command_re_encrypts_under_a_new_first_key_and_the_old_key_can_then_go(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FEDERATION_SECRET_KEYS = [old]
    server = remote_server_create(name="web", url="http://127.0.0.1:9/mcp", secret="bearer-123")
    before, _ = stored_columns(server.pk)

    settings.FEDERATION_SECRET_KEYS = [new, old]
    out = io.StringIO()
    call_command("federation_rotate_key", stdout=out)

    assert "1 remote server" in out.getvalue()
    after, _ = stored_columns(server.pk)
    assert after != before
    assert Fernet(new.encode()).decrypt(after.encode()) == b"bearer-123"
    settings.FEDERATION_SECRET_KEYS = [new]
    assert RemoteServer.objects.get(pk=server.pk).secret == "bearer-123"


def test_a_secret_no_key_opens_is_kept_named_in_the_error_and_never_sent(settings):
    settings.FEDERATION_SECRET_KEYS = [Fernet.generate_key().decode()]
    server = remote_server_create(name="web", url="http://127.0.0.1:9/mcp", secret="bearer-123")
    before, _ = stored_columns(server.pk)
    settings.FEDERATION_SECRET_KEYS = [Fernet.generate_key().decode()]

    again = RemoteServer.objects.get(pk=server.pk)
    assert isinstance(again.secret, Sealed)
    config = ServerConfig.from_server(again)
    assert "FEDERATION_SECRET_KEYS" in config.error
    assert "Authorization" not in dict(config.headers)
    again.save()  # an unrelated save keeps the stored token
    assert stored_columns(server.pk)[0] == before
    with pytest.raises(CommandError, match="web"):
        call_command("federation_rotate_key", stdout=io.StringIO())


def test_the_admin_never_shows_a_stored_secret_and_keeps_it_when_left_empty(client, admin_user):
    client.force_login(admin_user)
    server = remote_server_create(
        name="web", url="http://127.0.0.1:9/mcp", secret="bearer-123", secret_headers={"X-Api-Key": "key-456"}
    )

    page = client.get(CHANGE.format(server.pk)).content.decode()
    assert "bearer-123" not in page and "key-456" not in page
    assert "set (hidden)" in page and "X-Api-Key (values hidden)" in page

    form = {
        "name": "web", "transport": "streamable_http", "url": "http://127.0.0.1:9/mcp", "command": "",
        "headers": "{}", "secret": "", "secret_headers": "", "timeout": "30", "max_connections": "4",
        "enabled": "",
    }
    response = client.post(CHANGE.format(server.pk), form)
    assert response.status_code == 302, response.content.decode()[:2000]
    kept = RemoteServer.objects.get(pk=server.pk)
    assert kept.secret == "bearer-123" and kept.secret_headers == {"X-Api-Key": "key-456"}

    response = client.post(CHANGE.format(server.pk), {**form, "secret": "new-789", "clear_secret_headers": "on"})
    assert response.status_code == 302
    changed = RemoteServer.objects.get(pk=server.pk)
    assert changed.secret == "new-789" and changed.secret_headers == {}


@pytest.mark.slow
def test_secret_headers_reach_the_remote_server_and_not_the_logs(http_server, api_client, caplog):
    caplog.set_level(logging.DEBUG)
    call_command(
        "mcp_servers", "add", "web", "--url", http_server.url, "--secret", "bearer-123",
        "--secret-header", "X-Api-Key: key-456", stdout=io.StringIO(),
    )

    response = api_client.post("/api/v1/tools/web__headers/execute/", {"arguments": {}}, format="json")

    received = response.json()["result"]["headers"]
    assert received["authorization"] == "Bearer bearer-123"
    assert received["x-api-key"] == "key-456"
    assert "bearer-123" not in caplog.text and "key-456" not in caplog.text.replace(str(received), "")


def test_the_migration_encrypts_secrets_stored_in_plain_text_before():
    from django.db.migrations.executor import MigrationExecutor

    table = connection.ops.quote_name(RemoteServer._meta.db_table)
    executor = MigrationExecutor(connection)
    executor.migrate([("federation", "0001_initial")])
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (name, transport, url, command, headers, secret, enabled, timeout, "
                "max_connections, healthy, last_error, tools, protocol_version, created, updated) VALUES "
                "('old', 'streamable_http', 'http://127.0.0.1:9/mcp', '', '{}', 'plain-123', false, 30, 4, "
                "NULL, '', '[]', '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())

    server = RemoteServer.objects.get(name="old")
    assert "plain-123" not in stored_columns(server.pk)[0]
    assert server.secret == "plain-123"
    assert server.secret_headers == {}


def test_the_rotate_command_re_encrypts_oauth_client_secrets_and_tokens_too(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FEDERATION_SECRET_KEYS = [old]
    server = remote_server_create(
        name="docs", url="http://127.0.0.1:9/mcp", oauth=True, oauth_client_id="hub", oauth_client_secret="cs-789"
    )
    RemoteServer.objects.filter(pk=server.pk).update(oauth_credentials={"tokens": {"access_token": "at-1"}})

    settings.FEDERATION_SECRET_KEYS = [new, old]
    call_command("federation_rotate_key", stdout=io.StringIO())
    settings.FEDERATION_SECRET_KEYS = [new]

    again = RemoteServer.objects.get(pk=server.pk)
    assert again.oauth_client_secret == "cs-789"
    assert again.oauth_credentials == {"tokens": {"access_token": "at-1"}}
    assert again.oauth_connected
    assert ServerConfig.from_server(again).oauth_client_secret == "cs-789"
    assert "cs-789" not in repr(ServerConfig.from_server(again))
