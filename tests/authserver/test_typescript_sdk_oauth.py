"""The TypeScript SDK's OAuth client provider against the hub, end to end: no token, a 401
pointing at the metadata, dynamic registration, Chromium signing in and consenting, PKCE,
the code back to the client's own callback server; then it lists and calls tools."""

from __future__ import annotations

import json
import subprocess
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.authserver.conftest import consent
from tests.mcp_server.conftest import ROOT, node_tool
from tests.processes import free_port

pytestmark = pytest.mark.slow
CLIENT = ROOT / "tests" / "authserver" / "ts_oauth_client.mjs"


def run_ts_client(hub, browser, *, untick: tuple[str, ...] = ()) -> tuple[dict, list[str]]:
    port = free_port()
    redirect = f"http://127.0.0.1:{port}/callback"
    process = subprocess.Popen(
        [node_tool("node"), str(CLIENT), hub.url, str(port), "Short words help."],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    authorize_urls: list[str] = []
    try:
        for line in process.stdout:
            message = json.loads(line)
            if "authorize" not in message:
                return message, authorize_urls
            authorize_urls.append(message["authorize"])
            if len(authorize_urls) == 1:
                consent(
                    browser, message["authorize"], redirect_prefix=redirect, untick=untick, client_serves_callback=True
                )
        raise AssertionError(f"the client printed no result:\n{process.stderr.read()}")
    finally:
        process.wait(timeout=60)


def test_the_typescript_sdk_client_signs_in_then_lists_and_calls_tools(oauth_hub, browser):
    output, authorize_urls = run_ts_client(oauth_hub, browser)

    assert "error" not in output, output
    assert output["firstAttempt"] == "unauthorized"
    query = parse_qs(urlsplit(authorize_urls[0]).query)
    assert urlsplit(authorize_urls[0]).path == "/oauth/authorize/"
    assert query["code_challenge_method"] == ["S256"] and query["resource"] == [oauth_hub.url]
    assert set(output["tokenScope"].split()) == {"tools:read", "tools:call", "executions:read"}
    assert output["hasRefreshToken"] is True
    assert "text_statistics" in output["tools"]
    assert output["call"] == {"isError": False, "structuredContent": output["call"]["structuredContent"]}
    assert output["call"]["structuredContent"]["words"] == 3


def test_the_typescript_sdk_client_without_tools_call_lists_but_cannot_call(oauth_hub, browser):
    output, _authorize_urls = run_ts_client(oauth_hub, browser, untick=("tools:call",))

    assert "error" not in output, output
    assert set(output["tokenScope"].split()) == {"tools:read", "executions:read"}
    assert "text_statistics" in output["tools"]
    # The call met 403 insufficient_scope naming tools:call; the SDK tried to step up (its
    # refresh token cannot widen the grant) and got 403 again, so no result.
    assert output["call"]["thrown"] is True, output
    assert "403" in output["call"]["message"], output["call"]
