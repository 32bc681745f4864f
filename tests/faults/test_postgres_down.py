"""PostgreSQL connections lost under a running hub (issue 16): a restart or a failover as
the hub sees it. The hub (daphne) runs on a PostgreSQL database of its own, and the test
terminates every connection to it (``pg_terminate_backend``) again and again while calls
run: an inline call of a remote tool and a background call (eager, in the web process).

Each call in flight fails cleanly or succeeds (JSON, never a 500 page), no row is left in
progress, and the next calls succeed without restarting the process.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx2
import psycopg
import pytest

from tests.faults.test_shutdown import slow_server
from tests.mcp_server.conftest import PYTHON_SERVER, Hub, start_hub, stop_hub

pytestmark = [pytest.mark.fault, pytest.mark.slow, pytest.mark.services]


@pytest.fixture
def pg_hub(tmp_path) -> Iterator[tuple[Hub, psycopg.Connection, str]]:
    server = urlsplit(os.environ["DATABASE_URL"])
    name = f"faults_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(server._replace(path="/postgres").geturl(), autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    hub = None
    try:
        hub = start_hub(tmp_path, DATABASE_URL=server._replace(path=f"/{name}").geturl(),
                        FETCH_URL_ALLOWED_NETWORKS="127.0.0.0/8", FETCH_URL_TIMEOUT="60")
        yield hub, admin, name
    finally:
        if hub is not None:
            stop_hub(hub)
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def terminate_all(admin: psycopg.Connection, name: str) -> int:
    row = admin.execute(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        (name,),
    ).fetchone()
    return int(row[0])


def test_lost_database_connections_fail_calls_cleanly_and_the_next_calls_succeed(pg_hub):
    hub, admin, name = pg_hub
    headers = {"Authorization": f"Bearer {hub.tokens['alice']}"}
    added = hub.manage("mcp_servers", "add", "py", "--command", f"{sys.executable} {PYTHON_SERVER} stdio")
    assert "py__sleep" in added.stdout
    page = slow_server(delay=4)

    def execute(tool: str, arguments: dict) -> httpx2.Response:
        return httpx2.post(f"{hub.base}/api/v1/tools/{tool}/execute/", json={"arguments": arguments},
                           headers=headers, timeout=60)

    assert execute("text_statistics", {"text": "Warm up."}).status_code == 200
    answers: list[httpx2.Response] = []
    calls = [
        threading.Thread(target=lambda: answers.append(execute("py__sleep", {"seconds": 3}))),
        threading.Thread(target=lambda: answers.append(
            execute("fetch_url", {"url": f"http://127.0.0.1:{page.server_port}/"}))),
    ]
    for call in calls:
        call.start()
    terminated = 0
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:  # a database that keeps dropping connections
        terminated += terminate_all(admin, name)
        time.sleep(0.3)
    for call in calls:
        call.join(60)
    page.shutdown()
    assert terminated >= 1  # connections were really cut under the calls

    assert len(answers) == 2
    for answer in answers:
        assert answer.status_code != 500 and answer.headers["content-type"].startswith("application/json"), answer.text[
            :300
        ]

    # The process recovers by itself: fresh connections for the next calls.
    for _ in range(3):
        answer = execute("text_statistics", {"text": "After the restart."})
        assert answer.status_code == 200 and answer.json()["status"] == "success"
    ready = httpx2.get(f"{hub.base}/readyz", timeout=10).json()
    assert ready["checks"]["database"]["status"] == "ok"
    # Nothing is left in progress.
    for _ in range(50):
        rows = hub.api("/api/v1/executions/?limit=50")["results"]
        if all(r["status"] not in ("pending", "running") for r in rows):
            break
        time.sleep(0.2)
    assert [r["status"] for r in rows if r["status"] in ("pending", "running")] == []
