"""The Python SDK's OAuth client signs in to the hub end to end: discovery from the 401,
registration (dynamic, or a client ID metadata document), the browser sign-in and
consent (Chromium), PKCE, the token bound to /mcp; then it lists and calls tools."""

from __future__ import annotations

import json
import ssl
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.authserver.conftest import consent
from tests.authserver.pyclient import REDIRECT_URI, PythonOAuthClient
from tests.tools.local_http import serve

pytestmark = pytest.mark.slow


def test_it_signs_in_with_dynamic_registration_then_lists_and_calls_tools(oauth_hub, browser):
    client = PythonOAuthClient(oauth_hub.url).start()
    authorize_url = client.authorize_urls.get(timeout=60)
    query = parse_qs(urlsplit(authorize_url).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["resource"] == [oauth_hub.url]
    seen: dict = {}

    client.answer(consent(browser, authorize_url, redirect_prefix=REDIRECT_URI, seen=seen))
    result = client.join()

    assert "error" not in result, result
    assert seen["client"] == "Python SDK test client"
    assert set(seen["scopes"]) == {"tools:read", "tools:call", "executions:read"}
    assert "text_statistics" in seen["tools"]
    assert "text_statistics" in result["tools"]
    assert result["call"]["is_error"] is False, result["call"]
    assert result["call"]["structured"]["words"] == 3
    # The client was registered dynamically (RFC 7591) and its token carries a refresh token.
    assert result["client_id"] and not result["client_id"].startswith("https://")
    assert result["tokens"]["refresh_token"]


def test_a_token_without_tools_call_lists_but_cannot_call(oauth_hub, browser):
    client = PythonOAuthClient(oauth_hub.url).start()
    authorize_url = client.authorize_urls.get(timeout=60)

    client.answer(consent(browser, authorize_url, redirect_prefix=REDIRECT_URI, untick=("tools:call",)))
    # The SDK steps up (403 insufficient_scope names tools:call) and asks the person again;
    # this person says no.
    step_up = client.authorize_urls.get(timeout=60)
    assert "tools:call" in parse_qs(urlsplit(step_up).query)["scope"][0]
    client.answer(consent(browser, step_up, redirect_prefix=REDIRECT_URI, deny=True))
    result = client.join()

    assert "text_statistics" in result.get("tools", []), result
    assert set(result["tokens"]["scope"].split()) == {"tools:read", "executions:read"}
    # No result came back: the SDK's step-up was refused, so the call failed.
    assert "call" not in result or "raised" in result["call"] or result["call"].get("is_error"), result
    assert "structured" not in result.get("call", {}) or result["call"]["structured"] is None


def test_it_signs_in_with_a_client_id_metadata_document(oauth_hub, browser):
    cert, key = oauth_hub.env["CIMD_CERT"], oauth_hub.env["CIMD_KEY"]
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    document: dict = {}

    def metadata(handler) -> None:
        handler.reply(200, "application/json", json.dumps(document).encode())

    with serve({"/oauth/client.json": metadata}, tls=tls) as (base, seen_requests):
        client_id = base.replace("127.0.0.1", "localhost") + "/oauth/client.json"
        document.update(
            client_id=client_id, client_name="Metadata document client", redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code", "refresh_token"], response_types=["code"],
            token_endpoint_auth_method="none",
        )
        client = PythonOAuthClient(oauth_hub.url, client_metadata_url=client_id).start()
        authorize_url = client.authorize_urls.get(timeout=60)
        assert parse_qs(urlsplit(authorize_url).query)["client_id"] == [client_id]
        seen: dict = {}
        client.answer(consent(browser, authorize_url, redirect_prefix=REDIRECT_URI, seen=seen))
        result = client.join()

    assert "error" not in result, result
    assert seen["client"] == "Metadata document client"
    assert result["client_id"] == client_id
    assert result["call"]["is_error"] is False
    assert any(r["path"] == "/oauth/client.json" for r in seen_requests)
