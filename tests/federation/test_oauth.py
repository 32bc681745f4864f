"""OAuth sign-in to a remote MCP server: a second real hub (daphne) is the remote server and
its own authorization server; a person (Chromium, signed in as alice) consents.

The hub under test (this process) connects it with ``mcp_servers add --oauth``: it prints
the URL to open and waits on its loopback callback, the browser comes back there.
"""

from __future__ import annotations

import io
import os
import queue
import time
from collections.abc import Iterator

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from tests.authserver.conftest import PASSWORD, consent, hub_with_people
from tests.browser import chromium
from tests.federation.conftest import in_thread, wait_for
from tests.mcp_server.conftest import Hub
from tools.federation import oauth
from tools.federation.models import RemoteServer
from tools.federation.secrets import fernet

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ACCESS_TOKEN_TTL = 4  # seconds: short, so that the test lives through a refresh


@pytest.fixture(scope="module")
def remote_hub(tmp_path_factory) -> Iterator[Hub]:
    with hub_with_people(tmp_path_factory.mktemp("remote-hub"), OAUTH_ACCESS_TOKEN_TTL=str(ACCESS_TOKEN_TTL)) as hub:
        yield hub


@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API keeps an event loop running in this thread; the test's own ORM
    # calls are still plain synchronous code (Playwright's documented Django advice).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with chromium() as launched:
            yield launched
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class Lines(io.TextIOBase):
    """A command's stdout, line by line, for a test that must act on a line as it comes."""

    def __init__(self) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.text = ""

    def write(self, text: str) -> int:
        self.text += text
        for line in text.splitlines():
            self.lines.put(line)
        return len(text)

    def wait_for(self, prefix: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if line.startswith(prefix):
                return line[len(prefix):].strip()
        raise AssertionError(f"no line starting with {prefix!r}; the command said:\n{self.text}")


def connect_in_browser(browser, name: str, *args: str) -> tuple[str, list[BaseException]]:
    out, failures = Lines(), []

    def run() -> None:
        try:
            call_command("mcp_servers", *args, stdout=out, stderr=io.StringIO())
        except BaseException as exc:  # reported by the test
            failures.append(exc)

    worker = in_thread(run)
    url = out.wait_for("Open this URL to authorize: ")
    consent(browser, url, redirect_prefix="http://127.0.0.1:", client_serves_callback=True)
    worker.join(120)
    assert not worker.is_alive()
    return out.text, failures


def stored_tokens(name: str) -> dict:
    return RemoteServer.objects.get(name=name).oauth_credentials["tokens"]


def test_a_server_behind_oauth_is_signed_in_through_a_browser_called_and_lives_through_a_token_refresh(
    remote_hub, browser, api_client,
):
    said, failures = connect_in_browser(browser, "remote", "add", "remote", "--url", remote_hub.url, "--oauth")

    assert not failures, f"{failures}\n{said}"
    assert "Signed in to remote" in said
    assert "remote__text_statistics" in said
    server = RemoteServer.objects.get(name="remote")
    assert server.oauth_connected and server.healthy is True
    first = stored_tokens("remote")
    assert first["refresh_token"]

    # Stored encrypted: the raw column holds neither token.
    with connection.cursor() as cursor:
        cursor.execute("SELECT oauth_credentials FROM federation_remoteserver WHERE name = %s", ["remote"])
        raw = cursor.fetchone()[0]
    assert first["access_token"] not in raw and first["refresh_token"] not in raw
    assert first["access_token"] in fernet().decrypt(raw.encode()).decode()

    response = api_client.post(
        "/api/v1/tools/remote__text_statistics/execute/", {"arguments": {"text": "One two three."}}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "success"
    assert response.json()["result"]["words"] == 3

    # The access token runs out; the next call refreshes it (no person asked) and works.
    expires_at = RemoteServer.objects.get(name="remote").oauth_credentials["expires_at"]
    assert wait_for(lambda: time.time() > expires_at + 0.5, timeout=ACCESS_TOKEN_TTL + 5)
    response = api_client.post(
        "/api/v1/tools/remote__text_statistics/execute/", {"arguments": {"text": "Four words are here."}}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "success", response.json()
    assert response.json()["result"]["words"] == 4
    refreshed = stored_tokens("remote")
    assert refreshed["access_token"] != first["access_token"]
    # The remote rotates refresh tokens: the new one is kept.
    assert refreshed["refresh_token"] != first["refresh_token"]


def test_a_server_never_signed_in_fails_its_calls_saying_how_to_connect_it(remote_hub):
    out = io.StringIO()
    call_command("mcp_servers", "add", "later", "--url", remote_hub.url, "--oauth", "--no-sync", stdout=out)

    with pytest.raises(CommandError) as raised:
        call_command("mcp_servers", "sync", "later", stdout=out)

    assert "needs a new OAuth sign-in" in str(raised.value)
    assert "mcp_servers connect later" in str(raised.value)
    assert RemoteServer.objects.get(name="later").healthy is False


def test_a_sign_in_that_fails_keeps_the_stored_one():
    call_command(
        "mcp_servers", "add", "kept", "--url", "http://127.0.0.1:9/mcp", "--oauth", "--no-sync", stdout=io.StringIO()
    )
    stored = {"tokens": {"access_token": "at-1", "refresh_token": "rt-1"}, "expires_at": time.time() + 3600}
    RemoteServer.objects.filter(name="kept").update(oauth_credentials=stored)

    # Nothing listens on port 9: the sign-in fails before any authorization.
    with pytest.raises(CommandError, match="Signing in to kept failed"):
        call_command("mcp_servers", "connect", "kept", stdout=io.StringIO(), stderr=io.StringIO())

    assert RemoteServer.objects.get(name="kept").oauth_credentials == stored


def test_the_hub_serves_its_client_id_metadata_document_where_its_client_id_points(client, settings):
    assert client.get(oauth.CLIENT_METADATA_PATH).status_code == 404

    settings.FEDERATION_OAUTH_CLIENT_METADATA_URL = "https://hub.example.org/federation/oauth-client.json"
    document = client.get(oauth.CLIENT_METADATA_PATH).json()

    assert document["client_id"] == "https://hub.example.org/federation/oauth-client.json"
    assert "https://hub.example.org/admin/federation/remoteserver/oauth/callback/" in document["redirect_uris"]
    assert f"http://127.0.0.1{oauth.CALLBACK_PATH}" in document["redirect_uris"]
    assert document["token_endpoint_auth_method"] == "none"


def test_oauth_is_refused_for_a_stdio_server_and_beside_a_bearer_secret():
    with pytest.raises(CommandError, match="Streamable HTTP"):
        call_command("mcp_servers", "add", "x", "--command", "python -V", "--oauth", stdout=io.StringIO())
    with pytest.raises(CommandError, match="leave the bearer secret empty"):
        call_command(
            "mcp_servers",
            "add",
            "y",
            "--url",
            "http://127.0.0.1:9/mcp",
            "--oauth",
            "--secret",
            "s",
            stdout=io.StringIO(),
        )


def test_an_operator_connects_a_server_from_the_admin_with_the_connect_button(
    remote_hub, browser, live_server, client, admin_user,
):
    # This hub on "localhost", the remote on 127.0.0.1: two sites, two session cookies.
    call_command("mcp_servers", "add", "team", "--url", remote_hub.url, "--oauth", "--no-sync", stdout=io.StringIO())
    server = RemoteServer.objects.get(name="team")
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        client.force_login(admin_user)
        context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}])
        page.goto(f"{live_server.url}/admin/federation/remoteserver/{server.pk}/change/")
        assert "not yet: save, then press Connect above" in page.content()

        page.click("text=Connect (OAuth sign-in)")
        # The remote's sign-in and consent pages, as alice.
        page.wait_for_selector("#id_username")
        assert page.url.startswith(remote_hub.base)
        page.fill("#id_username", "alice")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_selector("#consent")
        page.click("input[name=allow]")

        # Back on this hub's callback, then the server's page with the outcome.
        page.wait_for_url(f"{live_server.url}/admin/federation/remoteserver/{server.pk}/change/")
        text = page.inner_text("body").lower()  # as shown: the theme capitalizes messages
        assert "team: signed in;" in text and "tools synced" in text, text[:1500]
        assert "token valid until" in text
    finally:
        context.close()
    server.refresh_from_db()
    assert server.oauth_connected and server.healthy is True
    assert "team__text_statistics" in server.tool_names


def test_the_admin_callback_refuses_a_sign_in_it_did_not_start(admin_client):
    response = admin_client.get("/admin/federation/remoteserver/oauth/callback/?code=stolen&state=unknown")

    assert response.status_code == 302
    assert response["Location"].endswith("/admin/federation/remoteserver/")
    assert RemoteServer.objects.count() == 0
    followed = admin_client.get(response["Location"])
    assert "This sign-in is unknown here" in followed.content.decode()
