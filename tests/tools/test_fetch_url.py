from __future__ import annotations

import gzip
import itertools
import re
import socket
import ssl
import subprocess
import zlib

import pytest

from executions.models import ToolExecution
from executions.services import execute_tool
from tests.tools.local_http import Handler, serve
from tools.base import Annotations, Mode, ToolCancelled, ToolContext, ToolError
from tools.builtin.fetch_url import FetchUrlTool, address_refusal, url_check
from tools.registry import registry

ARTICLE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>Growing beans | Garden Blog</title></head>
<body>
<nav><a href="/">Home</a> <a href="/about">About us</a> <a href="/shop">Shop now</a></nav>
<header><div class="menu">Subscribe to our newsletter</div></header>
<article>
<h1>Growing beans</h1>
<p>Beans are among the easiest vegetables to grow in a small garden. They need sun, water and a
little patience, and they reward the gardener with a long harvest.</p>
<p>Sow the seeds after the last frost, about five centimetres deep, and keep the soil moist until
the first leaves appear. Climbing varieties need a frame of canes or strings.</p>
</article>
<footer>Copyright 2026 Garden Blog. All rights reserved. Privacy policy.</footer>
</body></html>"""

MAX_BYTES = 256 * 1024


def article(h: Handler) -> None:
    h.reply(200, "text/html; charset=utf-8", ARTICLE)


def plain(h: Handler) -> None:
    h.reply(200, "text/plain; charset=iso-8859-1", "Plain text, caf\xe9 au lait.\n  Indented line.\n".encode("latin-1"))


def gzipped_article(h: Handler) -> None:
    h.reply(200, "text/html", gzip.compress(ARTICLE), {"Content-Encoding": "gzip"})


def deflated_article(h: Handler) -> None:
    h.reply(200, "text/html", zlib.compress(ARTICLE), {"Content-Encoding": "deflate"})


def endless(h: Handler) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "text/plain")
    h.send_header("Connection", "close")
    h.end_headers()
    chunk = b"x" * 65536
    while not h.stopping.is_set():
        h.wfile.write(chunk)


def gzip_bomb(h: Handler) -> None:
    h.reply(200, "text/plain", gzip.compress(b"\0" * (MAX_BYTES * 40)), {"Content-Encoding": "gzip"})


def dripping(h: Handler) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "text/plain")
    h.send_header("Connection", "close")
    h.end_headers()
    while not h.stopping.wait(0.05):
        h.wfile.write(b".")
        h.wfile.flush()


def stalled(h: Handler) -> None:
    h.stopping.wait(30)


def echo_host(h: Handler) -> None:
    h.reply(200, "text/plain", f"host={h.headers['Host']}".encode())


def image(h: Handler) -> None:
    h.reply(200, "image/png", b"\x89PNG\r\n\x1a\n" + b"\0" * 100)


ROUTES = {
    "/article": article,
    "/plain": plain,
    "/gzip": gzipped_article,
    "/deflate": deflated_article,
    "/endless": endless,
    "/bomb": gzip_bomb,
    "/drip": dripping,
    "/stall": stalled,
    "/echo-host": echo_host,
    "/image.png": image,
    "/large": lambda h: h.reply(200, "text/plain", b"bean " * 40_000),
    "/missing": lambda h: h.reply(404, "text/html", b"<html><body><h1>Not here</h1></body></html>"),
    "/broken": lambda h: h.reply(500, "text/plain", b"oops"),
    "/hop3": lambda h: h.redirect("/hop2", 301),
    "/hop2": lambda h: h.redirect(f"http://{h.headers['Host']}/hop1", 307),
    "/hop1": lambda h: h.redirect("article", 303),
    "/loop": lambda h: h.redirect("/loop"),
    "/to-private": lambda h: h.redirect("http://10.0.0.1/admin"),
    "/to-metadata": lambda h: h.redirect("http://169.254.169.254/latest/meta-data/"),
    "/to-ftp": lambda h: h.redirect("ftp://files.example/x"),
}


@pytest.fixture
def server():
    with serve(ROUTES) as (base, seen):
        yield base, seen


@pytest.fixture
def loopback_allowed(settings):
    settings.FETCH_URL_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.FETCH_URL_MAX_BYTES = MAX_BYTES
    settings.FETCH_URL_TIMEOUT = 5.0
    return settings


def fetch(url: str, ctx: ToolContext | None = None, **arguments):
    tool = FetchUrlTool()
    return tool.run(tool.validate({"url": url, **arguments}), ctx or ToolContext(user=None, execution_id="test"))


def test_it_is_a_cacheable_background_tool_that_reads_the_open_world():
    tool = registry.get("fetch_url")
    assert isinstance(tool, FetchUrlTool)
    assert tool.mode == Mode.BACKGROUND
    assert tool.annotations == Annotations(read_only=True, open_world=True)
    assert tool.cacheable and 0 < tool.cache_ttl <= 3600


# --- Address checks ---------------------------------------------------------------------

REFUSED = [
    ("http://127.0.0.1/", "127.0.0.1 is a loopback address"),
    ("http://[::1]/", "::1 is a loopback address"),
    ("http://[::ffff:127.0.0.1]/", "embeds 127.0.0.1, which is a loopback address"),
    ("http://2130706433/", "127.0.0.1 is a loopback address"),
    ("http://0x7f000001/", "127.0.0.1 is a loopback address"),
    ("http://0x7f.1/", "127.0.0.1 is a loopback address"),
    ("http://017700000001/", "127.0.0.1 is a loopback address"),
    ("http://127.1/", "127.0.0.1 is a loopback address"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
    ("http://[fd00:ec2::254]/", "fd00:ec2::254 is a cloud metadata address"),
    ("http://100.100.100.200/", "cloud metadata address"),
    ("http://10.1.2.3/", "10.1.2.3 is a private address"),
    ("http://192.168.0.1/", "192.168.0.1 is a private address"),
    ("http://172.16.5.4/", "172.16.5.4 is a private address"),
    ("http://100.64.0.1/", "100.64.0.1 is a shared (CGNAT) address"),
    ("http://[fe80::1]/", "fe80::1 is a link-local address"),
    ("http://[fc00::1]/", "fc00::1 is a private address"),
    ("http://224.0.0.1/", "224.0.0.1 is a multicast address"),
    ("http://240.0.0.1/", "240.0.0.1 is a reserved address"),
    ("http://0.0.0.0/", "0.0.0.0 is an unspecified address"),
    ("http://[::]/", ":: is an unspecified address"),
    ("http://[2002:7f00:1::]/", "embeds 127.0.0.1, which is a loopback address"),
    ("http://[64:ff9b::10.0.0.1]/", "embeds 10.0.0.1, which is a private address"),
    ("http://[64:ff9b::169.254.169.254]/", "cloud metadata address"),
    ("http://localhost/", "127.0.0.1 is a loopback address (localhost resolves to it)"),
    ("ftp://x/", "only http and https URLs"),
    ("file:///etc/passwd", "only http and https URLs"),
    ("http://user:pw@example.com/", "user name or password"),
    ("http://user@example.com/", "user name or password"),
    ("/relative/path", "only http and https URLs"),
    ("http://[::1/", "is not a valid URL"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_it_refuses_urls_that_reach_non_public_addresses(settings, url, reason):
    settings.FETCH_URL_ALLOWED_NETWORKS = []
    with pytest.raises(ToolError) as excinfo:
        fetch(url)
    assert str(excinfo.value).startswith("refused: ")
    assert reason in str(excinfo.value)


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::8.8.8.8", "2002:808:808::"]
)
def test_it_accepts_public_addresses_in_any_spelling(address):
    import ipaddress

    assert address_refusal(ipaddress.ip_address(address), []) is None


def test_it_refuses_a_host_when_any_of_its_addresses_is_not_public(monkeypatch):
    real = socket.getaddrinfo

    def two_addresses(host, port, *args, **kwargs):
        if host == "mixed.test":
            return [
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port)),
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", two_addresses)
    with pytest.raises(ToolError, match=r"refused: 10\.0\.0\.7 is a private address \(mixed\.test resolves to it\)"):
        url_check("http://mixed.test/", allowed=[])


def test_it_opens_allowed_networks_but_never_cloud_metadata(settings):
    import ipaddress

    allowed = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("169.254.0.0/16")]
    assert url_check("http://10.1.2.3/", allowed=allowed).addresses == [ipaddress.ip_address("10.1.2.3")]
    with pytest.raises(ToolError, match="cloud metadata"):
        url_check("http://169.254.169.254/", allowed=allowed)
    settings.FETCH_URL_ALLOWED_NETWORKS = ["not-a-network"]
    with pytest.raises(ToolError, match="FETCH_URL_ALLOWED_NETWORKS holds 'not-a-network'"):
        fetch("http://10.1.2.3/")


def test_it_reports_a_host_that_does_not_resolve(monkeypatch):
    real = socket.getaddrinfo

    def resolver(host, *args, **kwargs):
        # What the system resolver says for a name nobody registered (without asking DNS).
        if host == "no-such-host.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    with pytest.raises(ToolError, match=re.escape("could not resolve host 'no-such-host.invalid'")):
        fetch("http://no-such-host.invalid/")


def test_it_refuses_the_loopback_test_server_without_an_allowed_network(settings, server):
    base, seen = server
    settings.FETCH_URL_ALLOWED_NETWORKS = []
    with pytest.raises(ToolError, match=re.escape("refused: 127.0.0.1 is a loopback address")):
        fetch(f"{base}/article")
    assert seen == []


# --- Fetching from a real server ------------------------------------------------------------


def test_it_returns_the_main_text_of_an_html_page_without_boilerplate(loopback_allowed, server):
    base, _ = server
    result = fetch(f"{base}/article")
    assert result.status == 200
    assert result.title == "Growing beans"
    assert result.content_type == "text/html; charset=utf-8"
    assert result.final_url == f"{base}/article"
    assert "Beans are among the easiest vegetables" in result.text
    assert "Climbing varieties need a frame" in result.text
    for boilerplate in ("About us", "Shop now", "newsletter", "All rights reserved"):
        assert boilerplate not in result.text
    assert result.redirects == []
    assert result.truncated is False


def test_it_returns_plain_text_as_served_in_its_charset(loopback_allowed, server):
    base, _ = server
    result = fetch(f"{base}/plain")
    assert result.text == "Plain text, café au lait.\n  Indented line.\n"
    assert result.title is None


@pytest.mark.parametrize("path", ["/gzip", "/deflate"])
def test_it_decompresses_compressed_pages(loopback_allowed, server, path):
    base, _ = server
    assert "Beans are among the easiest vegetables" in fetch(base + path).text


def test_it_cuts_the_text_at_max_characters(loopback_allowed, server):
    base, _ = server
    result = fetch(f"{base}/article", max_characters=100)
    assert len(result.text) == 100
    assert result.truncated is True


def test_it_follows_a_redirect_chain_and_reports_the_final_url(loopback_allowed, server):
    base, seen = server
    result = fetch(f"{base}/hop3")
    assert result.final_url == f"{base}/article"
    assert result.redirects == [f"{base}/hop3", f"{base}/hop2", f"{base}/hop1"]
    assert result.title == "Growing beans"
    assert [r["path"] for r in seen] == ["/hop3", "/hop2", "/hop1", "/article"]


def test_it_stops_after_five_redirects(loopback_allowed, server):
    base, seen = server
    with pytest.raises(ToolError, match="too many redirects"):
        fetch(f"{base}/loop")
    assert len(seen) == 6


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/to-private", "refused: 10.0.0.1 is a private address"),
        ("/to-metadata", "refused: 169.254.169.254 is a cloud metadata address"),
        ("/to-ftp", "refused: only http and https URLs"),
    ],
)
def test_it_refuses_a_redirect_to_a_forbidden_address_at_the_hop(loopback_allowed, server, path, reason):
    base, _ = server
    with pytest.raises(ToolError) as excinfo:
        fetch(base + path)
    assert reason in str(excinfo.value)


def test_it_connects_to_the_address_it_checked_and_sends_the_name_as_host(loopback_allowed, server, monkeypatch):
    """DNS rebinding: the name resolves to an allowed address once, then to a forbidden one."""
    base, _seen = server
    port = base.rsplit(":", 1)[1]
    real = socket.getaddrinfo
    lookups = []

    def rebinding(host, port_, *args, **kwargs):
        if host == "rebind.test":
            lookups.append(host)
            address = "127.0.0.1" if len(lookups) == 1 else "10.0.0.1"
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port_))]
        return real(host, port_, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    result = fetch(f"http://rebind.test:{port}/echo-host")
    assert result.text == f"host=rebind.test:{port}"
    assert result.final_url == f"http://rebind.test:{port}/echo-host"
    assert lookups == ["rebind.test"]


@pytest.fixture
def tls_server(tmp_path):
    """An https server whose certificate names pinned.test, signed by itself."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=pinned.test",
         "-addext", "subjectAltName=DNS:pinned.test", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with serve(ROUTES, tls=context) as (base, seen):
        yield base, seen, cert


@pytest.fixture
def pinned_test_resolves_to_loopback(monkeypatch):
    real = socket.getaddrinfo

    def resolver(host, port, *args, **kwargs):
        if host in ("pinned.test", "impostor.test"):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)


def test_it_verifies_https_against_the_name_while_connecting_to_the_checked_address(
    loopback_allowed, tls_server, pinned_test_resolves_to_loopback
):
    base, _, cert = tls_server
    port = base.rsplit(":", 1)[1]
    loopback_allowed.FETCH_URL_CA_BUNDLE = str(cert)
    result = fetch(f"https://pinned.test:{port}/echo-host")
    assert result.text == f"host=pinned.test:{port}"
    # The certificate is checked against the name asked for, not the address dialled.
    with pytest.raises(ToolError, match=re.escape("certificate is not valid for 'impostor.test'")):
        fetch(f"https://impostor.test:{port}/echo-host")
    # And without the CA that signed it, the certificate is not trusted at all.
    loopback_allowed.FETCH_URL_CA_BUNDLE = ""
    with pytest.raises(ToolError, match="CERTIFICATE_VERIFY_FAILED"):
        fetch(f"https://pinned.test:{port}/echo-host")


def test_it_reports_a_ca_bundle_that_cannot_be_loaded(loopback_allowed, server, tmp_path):
    base, _ = server
    loopback_allowed.FETCH_URL_CA_BUNDLE = str(tmp_path / "missing.pem")
    with pytest.raises(ToolError, match="FETCH_URL_CA_BUNDLE could not be loaded"):
        fetch(f"{base}/article")


def test_it_caps_an_endless_body(loopback_allowed, server):
    base, _ = server
    with pytest.raises(ToolError, match=f"larger than {MAX_BYTES} bytes"):
        fetch(f"{base}/endless")


def test_it_caps_a_compressed_body_by_its_decompressed_size(loopback_allowed, server):
    base, _ = server
    with pytest.raises(ToolError, match=f"larger than {MAX_BYTES} bytes"):
        fetch(f"{base}/bomb")


@pytest.mark.parametrize("path", ["/drip", "/stall"])
def test_it_stops_a_slow_response_at_the_time_limit(loopback_allowed, server, path):
    base, _ = server
    loopback_allowed.FETCH_URL_TIMEOUT = 0.5
    with pytest.raises(ToolError, match=r"took longer than 0.5 s"):
        fetch(base + path)


@pytest.mark.parametrize(("path", "message"), [("/missing", "HTTP 404 Not Found"), ("/broken", "HTTP 500")])
def test_it_reports_error_statuses(loopback_allowed, server, path, message):
    base, _ = server
    with pytest.raises(ToolError, match=message):
        fetch(base + path)


def test_it_refuses_content_that_is_not_text(loopback_allowed, server):
    base, _ = server
    with pytest.raises(ToolError, match="is image/png, not a web page or text"):
        fetch(f"{base}/image.png")


def test_it_reports_progress_and_stops_when_cancelled(loopback_allowed, server):
    base, _ = server
    progress = []
    ctx = ToolContext(user=None, execution_id="test")

    def on_progress(done, total, message):
        progress.append((done, total, message))
        ctx.cancel_event.set()

    ctx.on_progress = on_progress
    with pytest.raises(ToolCancelled):
        fetch(f"{base}/endless", ctx)
    assert len(progress) == 1
    assert progress[0][0] > 0 and progress[0][2] == "Downloading"


def test_it_reports_download_progress_against_the_content_length(loopback_allowed, server):
    base, _ = server
    progress = []
    fetch(f"{base}/article", ToolContext(user=None, execution_id="t", on_progress=lambda *a: progress.append(a)))
    downloading = [p for p in progress if p[2] == "Downloading"]
    assert downloading[-1] == (len(ARTICLE), len(ARTICLE), "Downloading")
    assert progress[-1] == (len(ARTICLE), len(ARTICLE), "Done")


# --- Through the execution service ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_it_runs_in_the_background_and_records_the_page(user, loopback_allowed, server):
    base, _ = server
    execution = execute_tool(user=user, tool_name="fetch_url", arguments={"url": f"{base}/hop1"}, via="api")
    execution.refresh_from_db()
    assert execution.mode == "background"
    assert execution.status == ToolExecution.Status.SUCCESS, execution.error
    assert execution.result["title"] == "Growing beans"
    assert execution.result["final_url"] == f"{base}/article"
    assert "Beans are among the easiest vegetables" in execution.result["text"]
    assert execution.progress_message == "Done"


@pytest.mark.django_db(transaction=True)
def test_it_records_a_refused_url_as_an_error_execution(user, settings):
    settings.FETCH_URL_ALLOWED_NETWORKS = []
    execution = execute_tool(
        user=user, tool_name="fetch_url", arguments={"url": "http://169.254.169.254/latest/meta-data/"}, via="api"
    )
    execution.refresh_from_db()
    assert execution.status == ToolExecution.Status.ERROR
    assert execution.error == "refused: 169.254.169.254 is a cloud metadata address."


def test_it_reports_the_progress_of_a_large_body_in_steps(loopback_allowed, server):
    base, _ = server
    progress = []
    result = fetch(f"{base}/large", ToolContext(user=None, execution_id="t", on_progress=lambda *a: progress.append(a)))
    assert len(result.text) == 50_000  # max_characters' default
    downloaded = [done for done, _, message in progress if message == "Downloading"]
    assert downloaded[-1] == 200_000
    # Every step but the last (the rest of the body) is at least 64 KiB.
    assert all(later - earlier >= 64 * 1024 for earlier, later in itertools.pairwise(downloaded[:-1]))
    assert all(total == 200_000 for _, total, _ in progress)
