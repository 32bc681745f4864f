"""`manage.py mcp_servers`: bad input gets a clear error; list, remove; no server process needed."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from tests.federation.conftest import free_port
from tools.federation.models import RemoteServer
from tools.federation.services import signals_quiet
from tools.registry import registry

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("mcp_servers", *args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize(
    "args, message",
    [
        (["add", "a__b", "--url", "http://127.0.0.1:9/mcp"], "Letters, digits, single '_'"),
        (["add", "web", "--url", "not a url"], "url: Enter a valid URL."),
        (["add", "web", "--url", "http://127.0.0.1:9/mcp", "--header", "no colon"], "Bad header 'no colon'"),
        (["add", "local", "--command", "'unclosed"], "Cannot parse the command"),
        (["add", "web", "--url", "http://127.0.0.1:9/mcp", "--timeout", "0"], "timeout"),
        (["sync", "nope"], "No remote server 'nope'"),
        (["check", "nope"], "No remote server 'nope'"),
        (["remove", "nope"], "No remote server 'nope'"),
    ],
)
def test_it_rejects_bad_input_with_a_clear_error(args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert not RemoteServer.objects.exists()


def test_it_refuses_a_second_server_with_the_same_name():
    run("add", "web", "--url", "http://127.0.0.1:9/mcp", "--no-sync")

    with pytest.raises(CommandError, match="exists already"):
        run("add", "web", "--command", "true")


def test_an_unreachable_server_stays_added_and_is_listed_as_failing():
    url = f"http://127.0.0.1:{free_port()}/mcp"

    with pytest.raises(CommandError, match="Remote server 'web' is unreachable: ConnectError"):
        run("add", "web", "--url", url)

    listing = run("list")
    assert "web\tstreamable_http\t" + url in listing
    assert "FAILING" in listing
    with pytest.raises(CommandError, match="web is failing: ConnectError"):
        run("check", "web")


def test_it_lists_and_removes_servers_with_their_tools():
    assert "No remote servers" in run("list")
    with signals_quiet():  # registered, but no background sync of a command that does not exist
        server = RemoteServer.objects.create(
            name="local", transport="stdio", command="some-server --flag",
            tools=[{"name": "ping", "inputSchema": {"type": "object"}}],
        )
    assert registry.get("local__ping") is not None

    assert "local\tstdio\tsome-server --flag\tenabled\tnot checked\t1 tools" in run("list")
    assert "Removed local" in run("remove", "local")

    assert not RemoteServer.objects.filter(pk=server.pk).exists()
    assert registry.get("local__ping") is None


@pytest.fixture
def refusing_server():
    """An HTTP endpoint that answers every request with 401, like a server given a wrong secret."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Refuse(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_DELETE = do_POST

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/mcp"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_refused_connection_says_which_http_status_the_server_answered(refusing_server):
    with pytest.raises(CommandError, match=r"unreachable: .*\(HTTP 401 Unauthorized\)"):
        run("add", "web", "--url", refusing_server, "--secret", "wrong")

    assert "HTTP 401 Unauthorized" in RemoteServer.objects.get(name="web").last_error
