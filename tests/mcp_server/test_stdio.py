"""`manage.py mcp_stdio`: the same MCP server over stdio, as a desktop MCP client starts it.

The server runs as a real child process on its own SQLite database; what it recorded is
read from that database file."""

from __future__ import annotations

import json
import os
import queue
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from mcp import Client, StdioServerParameters

from tests.mcp_server.conftest import ROOT, Hub, prepare_hub

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def hub_db(tmp_path_factory) -> Iterator[Hub]:
    yield prepare_hub(tmp_path_factory.mktemp("stdio"))


def stdio(hub: Hub, *args: str, **env: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=["manage.py", "mcp_stdio", *args], cwd=str(ROOT), env={**hub.env, **env},
    )


def query(hub: Hub, sql: str, *params: object) -> list[tuple]:
    with sqlite3.connect(hub.data / "db.sqlite3") as db:
        return db.execute(sql, params).fetchall()


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_client_lists_and_calls_tools_over_stdio(hub_db, mode):
    async with Client(stdio(hub_db, "--token", hub_db.tokens["alice"]), mode=mode) as client:
        version = client.protocol_version
        listed = {t.name for t in (await client.list_tools()).tools}
        result = await client.call_tool("text_statistics", {"text": f"Over stdio in {mode} mode."})
        bad = await client.call_tool("text_statistics", {})

    assert version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
    assert {"text_statistics", "spell_check", "summarize"} <= listed
    assert result.is_error is False and result.structured_content["words"] == 5
    assert bad.is_error is True and "text" in bad.content[0].text
    execution_id = result.meta["mcpsite/execution"].removeprefix("execution://").replace("-", "")
    [(via, status, username, transport, ended)] = query(
        hub_db,
        "SELECT e.via, e.status, u.username, json_extract(s.client_info, '$.transport'), s.ended "
        "FROM executions_toolexecution e JOIN accounts_user u ON u.id = e.user_id "
        "JOIN executions_session s ON s.id = e.session_id WHERE replace(e.id, '-', '') = ?",
        execution_id,
    )
    assert (via, status, username, transport) == ("mcp", "success", "alice", "stdio")
    assert ended is not None  # the session ended when the client closed the pipe


async def test_the_token_may_come_from_the_environment(hub_db):
    async with Client(stdio(hub_db, MCP_TOKEN=hub_db.tokens["bob"])) as client:
        result = await client.call_tool("text_statistics", {"text": "Bob was here."})
    assert result.is_error is False


@pytest.mark.parametrize("args", [["--token", "mcps_wrong"], []])
def test_a_bad_or_missing_token_exits_with_a_message_and_writes_nothing_to_stdout(hub_db, args):
    env = {key: value for key, value in hub_db.env.items() if key != "MCP_TOKEN"}
    done = subprocess.run(
        [sys.executable, "manage.py", "mcp_stdio", *args], cwd=ROOT, env=env, input="", capture_output=True,
        text=True, timeout=60,
    )
    assert done.returncode != 0
    assert done.stdout == ""
    assert "token" in done.stderr.lower() and "Traceback" not in done.stderr


def test_stdout_carries_only_mcp_messages(hub_db):
    messages = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "text_statistics", "arguments": {"text": "One two."}},
        },
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "spell_check", "arguments": {"text": "Teh cat"}},
        },
    ]
    process = subprocess.Popen(
        [sys.executable, "manage.py", "mcp_stdio", "--token", hub_db.tokens["alice"]], cwd=ROOT,
        env={**hub_db.env, "LOG_LEVEL": "DEBUG"}, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    stderr: list[str] = []
    threading.Thread(target=lambda: stderr.extend(process.stderr), daemon=True).start()
    try:
        for message in messages:
            process.stdin.write(json.dumps(message) + "\n")
        process.stdin.flush()
        parsed = []
        while {m.get("id") for m in parsed} < {1, 2, 3}:
            parsed.append(json.loads(lines.get(timeout=60)))  # every line is one JSON-RPC message
    finally:
        process.stdin.close()  # EOF: the server ends
        process.wait(timeout=30)

    assert all(m.get("jsonrpc") == "2.0" for m in parsed)
    answers = {m["id"]: m for m in parsed if "id" in m}
    assert answers[2]["result"]["structuredContent"]["words"] == 2
    assert answers[3]["result"]["isError"] is False
    assert process.returncode == 0
    assert any("DEBUG" in line for line in stderr)  # logs go to stderr, not into the protocol stream


def test_an_unmigrated_database_is_a_clear_error(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "MCP_TOKEN")}
    env["DATA_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "manage.py", "mcp_stdio", "--token", "mcps_x"], cwd=ROOT, env=env, input="",
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode != 0 and done.stdout == ""
    assert "migrate" in done.stderr and "Traceback" not in done.stderr
