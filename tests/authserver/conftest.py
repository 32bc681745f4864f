"""A real hub (daphne) as authorization server and MCP server, a person with a password,
and Debian's Chromium (Playwright) to sign in and consent as that person would."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.browser import chromium
from tests.mcp_server.conftest import Hub, start_hub, stop_hub

TIMEOUT_MS = 60_000
PASSWORD = "correct-horse-battery-9"


def set_password(hub: Hub, username: str, password: str = PASSWORD) -> None:
    hub.manage(
        "shell", "-c",
        f"from accounts.models import User; u = User.objects.get(username={username!r}); "
        f"u.set_password({password!r}); u.save()",
    )


@contextmanager
def hub_with_people(data: Path, **settings: str) -> Iterator[Hub]:
    """A running hub where alice and bob can sign in with ``PASSWORD``."""
    started = start_hub(data, **settings)
    try:
        set_password(started, "alice")
        set_password(started, "bob")
        yield started
    finally:
        stop_hub(started)


@pytest.fixture(scope="module")
def oauth_hub(tmp_path_factory) -> Iterator[Hub]:
    """A hub with alice and bob able to sign in; loopback may serve client metadata documents
    over https (the certificate in ``cimd_cert``, trusted through FETCH_URL_CA_BUNDLE)."""
    data = tmp_path_factory.mktemp("oauth-hub")
    cert, key = data / "cimd-cert.pem", data / "cimd-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    with hub_with_people(
        data, FETCH_URL_ALLOWED_NETWORKS="127.0.0.0/8,::1/128", FETCH_URL_CA_BUNDLE=str(cert)
    ) as started:
        started.env["CIMD_CERT"], started.env["CIMD_KEY"] = str(cert), str(key)
        yield started


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


def consent(
    browser, authorize_url: str, *, redirect_prefix: str, username: str = "alice", untick: tuple[str, ...] = (),
    deny: bool = False, seen: dict | None = None, client_serves_callback: bool = False,
) -> str:
    """Open the authorization URL as a person would: sign in, read the consent page, answer.

    Returns the URL the browser was sent back to (the client's redirect URI with the code).
    ``seen`` receives what the consent page showed (client name, scopes, tools).
    ``client_serves_callback``: the client listens on its redirect URI itself, so the
    browser's last request goes there (else the test answers it in the browser).
    """
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    final: list[str] = []

    def to_client(route) -> None:
        # The client's callback (when the client runs no server of its own).
        route.fulfill(status=200, content_type="text/plain", body="You may close this window.")

    if not client_serves_callback:
        page.route(f"{redirect_prefix}**", to_client)
    # A redirect the route does not see still shows as a request.
    page.on("request", lambda request: final.append(request.url) if request.url.startswith(redirect_prefix) else None)
    try:
        page.goto(authorize_url)
        page.wait_for_selector("#id_username")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_selector("#consent")
        if seen is not None:
            seen["client"] = page.inner_text("#client-name") if page.locator("#client-name").count() else None
            seen["scopes"] = page.eval_on_selector_all("input[name=scope_choice]", "els => els.map(e => e.value)")
            seen["tools"] = page.eval_on_selector_all("#tools code", "els => els.map(e => e.textContent)")
            seen["error"] = page.inner_text("#error") if page.locator("#error").count() else None
            if seen["error"]:
                return ""
        for scope in untick:
            page.uncheck(f"input[name=scope_choice][value='{scope}']")
        page.click("input[value=Deny]" if deny else "input[name=allow]")
        deadline_ms = TIMEOUT_MS
        page.wait_for_function("() => true")  # let the navigation start
        for _ in range(deadline_ms // 100):
            if final and (not client_serves_callback or page.url.startswith(redirect_prefix)):
                break
            page.wait_for_timeout(100)
        assert final, f"the browser was not sent back to the client; it shows {page.url}"
        return final[0]
    finally:
        context.close()
