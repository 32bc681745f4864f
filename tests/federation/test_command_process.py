"""`manage.py mcp_servers` as a new user runs it: its own process, its own database."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from tests.federation.conftest import PYTHON_SERVER, ROOT

pytestmark = pytest.mark.slow


def manage(data_dir, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )


def test_adding_a_stdio_server_syncs_its_tools_and_the_process_exits_without_leaving_the_server_running(tmp_path):
    marker = f"marker-{uuid.uuid4().hex}"
    assert manage(tmp_path, "migrate", "-v0").returncode == 0

    added = manage(
        tmp_path, "mcp_servers", "add", "py", "--command", f"{sys.executable} {PYTHON_SERVER} stdio {marker}"
    )

    assert added.returncode == 0, added.stderr
    assert "Synced 12 tools from py (protocol 2026-07-28)" in added.stdout
    assert "py__count" in manage(tmp_path, "list_tools").stdout
    # The pool closed its session at exit, which ended the server process it had started.
    running = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    assert running.stdout == ""

    listed = manage(tmp_path, "mcp_servers", "list")
    assert "\thealthy\t12 tools" in listed.stdout
    assert manage(tmp_path, "mcp_servers", "remove", "py").returncode == 0
    assert "py__count" not in manage(tmp_path, "list_tools").stdout
