"""Other people's MCP clients against the hub's /mcp (and stdio) server.

* the official conformance suite (``conformance server``): the frozen requirements of
  2025-11-25 and 2026-07-28 (with the tasks extension), plus its pending scenarios;
* a client on the official TypeScript SDK (``ts_client.mjs``);
* the MCP Inspector's CLI, over Streamable HTTP and over stdio, as the README shows.

What the hub recorded is read back through its REST API, as an operator would.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.mcp_server.conftest import NODE_BIN, ROOT, Hub, node_tool

pytestmark = pytest.mark.slow

TS_CLIENT = Path(__file__).parent / "ts_client.mjs"
CONFORMANCE_TIMEOUT = 600
CLIENT_TIMEOUT = 120
ANSI = re.compile(r"\x1b\[[0-9;]*m")


# --- helpers ---------------------------------------------------------------------------------


def node_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a Node tool: Node 22 first on PATH, and a home of its own (the
    inspector keeps a catalog under ~/.mcp-inspector)."""
    env = {key: value for key, value in os.environ.items() if key not in ("MCP_TOKEN", "MCP_CATALOG_PATH")}
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        PATH=f"{NODE_BIN}{os.pathsep}{os.environ.get('PATH', '')}", HOME=str(home),
        MCP_CATALOG_PATH=str(home / "mcp-inspector-catalog.json"), NO_COLOR="1", **extra,
    )
    return env


def run(args: list[str], *, cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(
            f"{' '.join(args)} did not finish in {timeout} s:\n{_text(exc.stdout)[-3000:]}\n{_text(exc.stderr)[-3000:]}"
        )


def _text(output: str | bytes | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else (output or "")


def tail(text: str, size: int = 4000) -> str:
    return text[-size:]


def summary(output: str) -> tuple[int, int] | None:
    """(passed, failed) from the ``Total:`` line of the conformance SUMMARY, if there is one."""
    output = ANSI.sub("", output)
    found = re.search(r"=== SUMMARY ===.*^Total: (\d+) passed, (\d+) failed", output, re.S | re.M)
    return (int(found.group(1)), int(found.group(2))) if found else None


def failed_checks(results: Path) -> list[str]:
    """The FAILURE checks in the checks.json files the conformance CLI saved."""
    failures = []
    for checks in sorted(results.glob("*/checks.json")):
        for check in json.loads(checks.read_text()):
            if check.get("status") == "FAILURE":
                failures.append(f"{checks.parent.name}: {check.get('id')}: {check.get('errorMessage')}")
    return failures


def warned_checks(results: Path) -> list[str]:
    """The WARNING checks (SHOULDs the hub does not meet) in the saved checks.json files."""
    warnings = []
    for checks in sorted(results.glob("*/checks.json")):
        for check in json.loads(checks.read_text()):
            if check.get("status") == "WARNING":
                warnings.append(f"{checks.parent.name}: {check.get('id')}: {check.get('errorMessage')}")
    return warnings


def conformance(hub: Hub, tmp_path: Path, name: str, *options: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    cwd = tmp_path / name
    cwd.mkdir()
    results = cwd / "results"
    completed = run(
        [node_tool("conformance"), "server", "--url", hub.url, *options, "-o", str(results)],
        cwd=cwd, env=node_env(tmp_path / "home"), timeout=CONFORMANCE_TIMEOUT,
    )
    return completed, results


def ts_client(
    hub: Hub, tmp_path: Path, text: str, token: str | None
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    env = node_env(tmp_path / "home")
    if token is not None:
        env["MCP_TOKEN"] = token
    completed = run([node_tool("node"), str(TS_CLIENT), hub.url, text], cwd=tmp_path, env=env, timeout=CLIENT_TIMEOUT)
    lines = completed.stdout.strip().splitlines()
    try:
        output = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        output = {}
    return completed, output


def inspector(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run(
        [node_tool("mcp-inspector"), "--cli", *args],
        cwd=tmp_path,
        env=node_env(tmp_path / "home"),
        timeout=CLIENT_TIMEOUT,
    )


def execution_of(hub: Hub, meta: dict[str, Any] | None) -> dict[str, Any]:
    """The REST API's view (as root) of the execution a tool result's _meta points at."""
    uri = (meta or {}).get("mcpsite/execution", "")
    assert uri.startswith("execution://"), f"no execution in the result's _meta: {meta}"
    return hub.api(f"/api/v1/executions/{uri.removeprefix('execution://')}/")


def mcp_executions(hub: Hub) -> list[dict[str, Any]]:
    page = hub.api("/api/v1/executions/?via=mcp&tool=text_statistics&limit=1000")
    assert set(page) >= {"count", "results"}, page
    return page["results"]


def session_with(hub: Hub, mcp_session_id: str) -> dict[str, Any] | None:
    for session in hub.api("/api/v1/sessions/?limit=1000")["results"]:
        if session["client_info"].get("mcp_session_id") == mcp_session_id:
            return session
    return None


# --- the conformance suite -------------------------------------------------------------------
# Pinned at 0.2.0-alpha.12 in package.json. Each run must pass every scenario it runs, scored
# or not (the tasks extension scenarios run within --requirements 2026-07-28 and the pending
# suite), with no FAILURE and no WARNING check: there are no expected failures.


def assert_conformance_passes(hub: Hub, completed: subprocess.CompletedProcess[str], results: Path, label: str) -> int:
    """Assert a conformance run passed whole; return how many scenarios it ran."""
    output = completed.stdout + completed.stderr
    totals = summary(output)
    problems = failed_checks(results) + warned_checks(results)
    message = (
        f"{label}: exit {completed.returncode}, totals (passed, failed) {totals}, problems {problems}\n"
        f"{tail(output)}\n\nhub log:\n{tail(hub.log())}"
    )
    assert completed.returncode == 0, message
    assert totals is not None and totals[0] > 0 and totals[1] == 0, message
    assert not problems, message
    return len(list(results.glob("*/checks.json")))


@pytest.mark.parametrize("revision", ["2025-11-25", "2026-07-28"])
def test_the_conformance_suite_passes_for_each_spec_revision_the_hub_serves(open_hub, tmp_path, revision):
    completed, results = conformance(open_hub, tmp_path, f"requirements-{revision}", "--requirements", revision)
    ran = assert_conformance_passes(open_hub, completed, results, f"--requirements {revision}")

    # The frozen lists: 33 scenarios for 2025-11-25, 50 (with the tasks extension) for 2026-07-28.
    assert ran >= {"2025-11-25": 33, "2026-07-28": 50}[revision]
    if revision == "2026-07-28":
        ran_names = {checks.parent.name for checks in results.glob("*/checks.json")}
        for scenario in (
            "input-required-result-multi-round",
            "server-stateless",
            "tasks-lifecycle",
            "tasks-mrtr-input",
        ):
            assert any(name.startswith(f"server-{scenario}-") for name in ran_names), (scenario, sorted(ran_names))


def test_the_conformance_suites_pending_scenarios_pass(open_hub, tmp_path):
    completed, results = conformance(open_hub, tmp_path, "pending", "--suite", "pending")
    ran = assert_conformance_passes(open_hub, completed, results, "--suite pending")

    assert ran >= 17


# --- the TypeScript SDK's client ---------------------------------------------------------------


def test_the_typescript_sdk_client_lists_and_calls_tools(hub, tmp_path):
    text = "The quick brown fox jumps over the lazy dog. It barked twice at the interop test."
    completed, output = ts_client(hub, tmp_path, text, hub.tokens["alice"])

    assert completed.returncode == 0, f"{completed.stdout}\n{completed.stderr}\n\nhub log:\n{tail(hub.log())}"
    assert "text_statistics" in output["tools"]
    assert output["protocolVersion"], output
    assert output["sessionId"], output

    good = output["good"]
    assert good.get("thrown") is None, good
    assert good["isError"] is False, good
    stats = good["structuredContent"]
    assert stats["words"] == len(text.split()) == 16
    assert stats["sentences"] == 2
    assert stats["characters"] == len(text)
    assert stats["characters_no_spaces"] == len(text.replace(" ", ""))
    # The text content carries the same result, for clients that ignore structuredContent.
    assert [c["type"] for c in good["content"]] == ["text"]
    assert json.loads(good["content"][0]["text"]) == stats

    bad = output["bad"]
    assert bad.get("thrown") is None, f"a bad argument should be a tool error, not a protocol error: {bad}"
    assert bad["isError"] is True, bad
    assert bad["structuredContent"] is None
    message = " ".join(c.get("text", "") for c in bad["content"])
    assert "text" in message and "string" in message.lower(), message
    assert "Traceback" not in message

    # What the hub recorded: the good call (a refused call records nothing).
    execution = execution_of(hub, good["meta"])
    assert execution["via"] == "mcp"
    assert execution["tool_name"] == "text_statistics"
    assert execution["status"] == "success"
    assert execution["user"] == "alice"
    assert execution["arguments"] == {"text": text}
    assert execution["result"] == stats
    assert execution in mcp_executions(hub)
    assert not [e for e in mcp_executions(hub) if e["arguments"] == {"text": 12345}]

    # One hub Session for the MCP session, ended by the client's DELETE.
    session = session_with(hub, output["sessionId"])
    assert session is not None, hub.api("/api/v1/sessions/?limit=1000")
    assert execution["session"] == session["id"]
    assert session["user"] == "alice"
    assert session["kind"] == "mcp"
    assert session["client_info"]["name"] == "mcpsite-interop-test"
    assert session["client_info"]["protocol_version"] == output["protocolVersion"]
    deadline = time.monotonic() + 10
    while session["ended"] is None and time.monotonic() < deadline:
        time.sleep(0.2)
        session = session_with(hub, output["sessionId"])
    assert session["ended"] is not None, session


@pytest.mark.parametrize("token", [None, "mcps_not-a-real-token"], ids=["no-token", "bad-token"])
def test_the_typescript_sdk_client_is_refused_without_a_valid_token(hub, tmp_path, token):
    completed, output = ts_client(hub, tmp_path, "Hello there.", token)

    assert completed.returncode != 0, completed.stdout
    assert output.get("code") == 401 or "401" in output.get("error", ""), f"{completed.stdout}\n{completed.stderr}"
    assert "invalid_token" in output.get("error", ""), output
    assert "tools" not in output


# --- the MCP Inspector's CLI -------------------------------------------------------------------


def test_the_inspector_cli_lists_and_calls_tools_over_http(hub, tmp_path):
    header = f"Authorization: Bearer {hub.tokens['bob']}"

    # --strict: the inspector also checks that every schema is portable across clients.
    listed = inspector(tmp_path, hub.url, "--method", "tools/list", "--strict", "--header", header)
    assert listed.returncode == 0, f"{listed.stdout}\n{listed.stderr}\n\nhub log:\n{tail(hub.log())}"
    assert "warning" not in listed.stderr.lower() and "error" not in listed.stderr.lower(), listed.stderr
    tools = {tool["name"]: tool for tool in json.loads(listed.stdout)["tools"]}
    assert "text_statistics" in tools
    assert tools["text_statistics"]["inputSchema"]["properties"]["text"]["type"] == "string"

    called = inspector(
        tmp_path, hub.url, "--method", "tools/call", "--tool-name", "text_statistics",
        "--tool-arg", "text=Hello there. Fine.", "--header", header,
    )
    assert called.returncode == 0, f"{called.stdout}\n{called.stderr}\n\nhub log:\n{tail(hub.log())}"
    result = json.loads(called.stdout)
    assert result.get("isError") is not True, result
    assert result["structuredContent"]["words"] == 3
    assert result["structuredContent"]["sentences"] == 2

    execution = execution_of(hub, result.get("_meta"))
    assert (execution["via"], execution["tool_name"], execution["status"], execution["user"]) == (
        "mcp", "text_statistics", "success", "bob",
    )


def test_the_inspector_cli_lists_and_calls_tools_over_stdio(hub, tmp_path):
    server = [
        "-e",
        f"DATA_DIR={hub.env['DATA_DIR']}",
        "-e",
        f"DATABASE_URL={hub.env['DATABASE_URL']}",
        "-e",
        "LOG_FORMAT=plain",
        "--cwd",
        str(ROOT),
        sys.executable,
        "manage.py",
        "mcp_stdio",
        "--token",
        hub.tokens["alice"],
    ]

    listed = inspector(tmp_path, *server, "--method", "tools/list")
    assert listed.returncode == 0, f"{listed.stdout}\n{listed.stderr}"
    names = [tool["name"] for tool in json.loads(listed.stdout)["tools"]]
    assert "text_statistics" in names

    text = "Standard input, standard output. Both work."
    called = inspector(
        tmp_path, *server, "--method", "tools/call", "--tool-name", "text_statistics", "--tool-arg", f"text={text}"
    )
    assert called.returncode == 0, f"{called.stdout}\n{called.stderr}"
    result = json.loads(called.stdout)
    assert result.get("isError") is not True, result
    assert result["structuredContent"]["words"] == 6

    # The stdio server wrote to the hub's database: the hub serves what it recorded.
    execution = execution_of(hub, result.get("_meta"))
    assert (execution["via"], execution["tool_name"], execution["status"], execution["user"]) == (
        "mcp", "text_statistics", "success", "alice",
    )
    assert execution["arguments"] == {"text": text}
    stdio_sessions = [s for s in hub.api("/api/v1/sessions/?limit=1000")["results"] if s["id"] == execution["session"]]
    assert [s["client_info"].get("transport") for s in stdio_sessions] == ["stdio"]
    assert stdio_sessions[0]["ended"] is not None  # ended when the inspector closed stdin
