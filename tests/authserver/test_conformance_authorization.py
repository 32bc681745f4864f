"""The official conformance suite's authorization-server scenarios against the hub:
RFC 8414 metadata, and the authorization code grant with PKCE S256 and an RFC 8707
resource, the suite's callback reached by Chromium after signing in and consenting."""

from __future__ import annotations

import json
import subprocess

import httpx2
import pytest

from tests.authserver.conftest import consent
from tests.mcp_server.conftest import ROOT, node_tool
from tests.processes import free_port

pytestmark = pytest.mark.slow
SCENARIOS = {"authorization-server-metadata-endpoint", "authorization-code-grant"}


def test_the_conformance_authorization_scenarios_pass(oauth_hub, browser, tmp_path):
    port = free_port()
    redirect = f"http://127.0.0.1:{port}/callback"
    # The suite plays a pre-registered public client; it registers the way MCP clients do.
    registered = httpx2.post(f"{oauth_hub.base}/oauth/register/", json={
        "client_name": "MCP conformance suite", "redirect_uris": [redirect], "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
    }, timeout=10)
    assert registered.status_code == 201, registered.text
    client_id = registered.json()["client_id"]
    results = tmp_path / "results"
    process = subprocess.Popen(
        [node_tool("node"), str(ROOT / "node_modules/@modelcontextprotocol/conformance/dist/index.js"),
         "authorization", "--url", oauth_hub.base, "--client-id", client_id, "--resource", oauth_hub.url,
         "--port", str(port), "-o", str(results)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    printed: list[str] = []
    try:
        for line in process.stdout:
            printed.append(line)
            if line.startswith(f"{oauth_hub.base}/oauth/authorize/"):
                consent(browser, line.strip(), redirect_prefix=redirect, client_serves_callback=True)
        assert process.wait(timeout=120) == 0, "".join(printed)
    finally:
        if process.poll() is None:
            process.kill()

    checks = [check for path in results.rglob("checks.json") for check in json.loads(path.read_text())]
    by_id = {check["id"]: check["status"] for check in checks}
    assert {"authorization-server-metadata", "authorization-server-metadata-cimd", "authorization-code-grant"} <= set(
        by_id
    )
    assert set(by_id.values()) == {"SUCCESS"}, by_id
    assert "Total: 3 passed, 0 failed" in "".join(printed), "".join(printed)
