"""A real hub served by daphne (as `make run` serves it), for the MCP HTTP tests.

Each hub is a separate process on a fresh SQLite database in a temporary directory.
Tests see what it recorded through its REST API, as an operator's script would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
NODE_BIN = ROOT / "node_modules" / ".bin"
PYTHON_SERVER = ROOT / "tests" / "federation" / "servers" / "python_server.py"
# The conformance suite's fixtures: a test-only provider the hub loads by its dotted path.
CONFORMANCE_FIXTURES = "tests.mcp_server.conformance_fixtures.provider"


@dataclass
class Hub:
    base: str
    env: dict[str, str]
    data: Path
    tokens: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"{self.base}/mcp"

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=check, capture_output=True, text=True,
        )

    def api(self, path: str, token: str | None = None) -> Any:
        """GET a REST API path as the admin (or the given token) and return its JSON."""
        request = urllib.request.Request(
            f"{self.base}{path}", headers={"Authorization": f"Bearer {token or self.tokens['root']}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def log(self) -> str:
        return (self.data / "daphne.log").read_text(errors="replace")


def prepare_hub(data: Path, **settings: str) -> Hub:
    """A migrated database with users alice, bob and root (admin) and a token for each."""
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "CELERY_BROKER_URL")}
    env.update(
        DATA_DIR=str(data), DATABASE_URL=f"sqlite:///{data / 'db.sqlite3'}", LOG_FORMAT="plain",
        FEDERATION_RELOAD_INTERVAL="0.5", FEDERATION_HEALTH_INTERVAL="0",
    )
    env.update(settings)  # may replace the defaults above (DATABASE_URL)
    port = free_port()
    hub = Hub(base=f"http://127.0.0.1:{port}", env=env, data=data)
    hub.manage("migrate", "--noinput")
    hub.tokens["alice"] = hub.manage("create_token", "alice", "--create-user").stdout.strip()
    hub.tokens["bob"] = hub.manage("create_token", "bob", "--create-user").stdout.strip()
    hub.tokens["root"] = hub.manage("create_token", "root", "--create-user", "--admin").stdout.strip()
    return hub


def start_hub(data: Path, **settings: str) -> Hub:
    """``prepare_hub``, then daphne serving it on a free port."""
    return launch_hub(prepare_hub(data, **settings))


def another_web_process(hub: Hub, name: str = "second") -> Hub:
    """A second daphne serving the same hub (same database and settings) on another port."""
    port = free_port()
    twin = Hub(base=f"http://127.0.0.1:{port}", env=dict(hub.env), data=hub.data, tokens=hub.tokens)
    return launch_hub(twin, log_name=f"daphne-{name}.log")


def launch_hub(hub: Hub, log_name: str = "daphne.log") -> Hub:
    data = hub.data
    port = int(hub.base.rsplit(":", 1)[1])
    with open(data / log_name, "wb") as log:  # daphne writes to its own copy of the file
        hub.process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "daphne"),
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "mcpsite.asgi:application",
            ],
            cwd=ROOT,
            env=hub.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{hub.base}/healthz", timeout=2) as response:
                if response.status == 200:
                    return hub
        except OSError:
            pass
        if hub.process.poll() is not None or time.monotonic() > deadline:
            stop_hub(hub)
            raise RuntimeError(f"daphne did not start:\n{hub.log()[-3000:]}")
        time.sleep(0.2)


def stop_hub(hub: Hub) -> None:
    if hub.process is None:
        return
    hub.process.terminate()
    try:
        hub.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        hub.process.kill()
        hub.process.wait()


@pytest.fixture(scope="module")
def hub(tmp_path_factory) -> Iterator[Hub]:
    """A hub that requires tokens, with the conformance fixtures registered."""
    started = start_hub(tmp_path_factory.mktemp("hub"), MCP_EXTRA_PROVIDERS=CONFORMANCE_FIXTURES)
    try:
        yield started
    finally:
        stop_hub(started)


@pytest.fixture(scope="module")
def open_hub(tmp_path_factory) -> Iterator[Hub]:
    """A hub on loopback that lets anonymous callers in (as the conformance run needs)."""
    started = start_hub(
        tmp_path_factory.mktemp("open-hub"), MCP_EXTRA_PROVIDERS=CONFORMANCE_FIXTURES, MCP_ALLOW_ANONYMOUS="1"
    )
    try:
        yield started
    finally:
        stop_hub(started)


def node_tool(name: str) -> str:
    path = NODE_BIN / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run ./scripts/install-test-deps (npm ci).")
    return str(path)
