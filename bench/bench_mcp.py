"""What a tools/call over /mcp costs in the hub against a bare MCP server.

Both serve the same text_statistics tool over Streamable HTTP on loopback, each in its
own process, and the official Python SDK client calls each N times in one run:
  bare  the SDK's own MCPServer (uvicorn via ``MCPServer.run``) with a function that
        calls the same tool code directly: the baseline
  hub   daphne serving mcpsite: token check, the registry, execute_tool (validation,
        rate limit, the ToolExecution row, the runner thread), the result's content
Prints absolute figures (which vary with the machine) and the ratio hub/bare (which is
what to compare between runs). Both eras are measured: 2025-11-25 (a session) and
2026-07-28 (stateless requests).

    .venv/bin/python bench/bench_mcp.py [--calls 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEXT = "Short sentences help. Long ones, with clauses and asides, rarely do. " * 10

BARE_SERVER = """
import sys
sys.path.insert(0, {root!r})
import os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mcpsite.settings")
import django
django.setup()
from mcp.server.mcpserver import MCPServer
from tools.builtin.text_statistics import TextStatisticsTool

tool = TextStatisticsTool()
server = MCPServer("bare")

@server.tool()
def text_statistics(text: str) -> dict:
    return tool.run(tool.validate({{"text": text}}), None).model_dump()

server.run("streamable-http", host="127.0.0.1", port={port})
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def migrate_with_token(env: dict[str, str]) -> str:
    """Migrate the bench's database and return a new token of a user "bench"."""
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True)
    return subprocess.run([*manage, "create_token", "bench", "--create-user"], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True).stdout.strip()


def stop_all(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
        process.wait(timeout=30)


def wait_for(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"a server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("a server did not start")


def wait_ready(port: int, timeout: float = 120) -> None:
    """Wait until a hub process is ready for calls: /readyz answers 503 ``starting`` while
    its tool processes start (its first request starts them), and measuring before would
    time the fork server's imports, not calls."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10).read()
            return
        except urllib.error.HTTPError as exc:
            body = exc.read()
            if json.loads(body).get("status") != "starting" or time.monotonic() > deadline:
                raise SystemExit(f"the hub on port {port} is not ready: {body[:300]!r}") from exc
            time.sleep(0.1)


async def measure(url: str, token: str | None, mode: str, calls: int) -> list[float]:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    http = httpx2.AsyncClient(headers=headers, timeout=60)
    async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
        await client.list_tools()
        for _ in range(10):  # warm up
            await client.call_tool("text_statistics", {"text": TEXT})
        samples = []
        for _ in range(calls):
            start = time.perf_counter()
            result = await client.call_tool("text_statistics", {"text": TEXT})
            samples.append(time.perf_counter() - start)
            assert not result.is_error, result.content
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200)
    calls = parser.parse_args().calls

    data = Path(tempfile.mkdtemp(prefix="mcpsite-bench-mcp-"))
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CELERY_BROKER_URL", "DATABASE_URL")}
    env.update(DATA_DIR=str(data), LOG_LEVEL="WARNING", TOOL_RATE_LIMIT="0", TOOL_CACHE_TTL="0")
    token = migrate_with_token(env)

    hub_port, bare_port = free_port(), free_port()
    (data / "bare.py").write_text(BARE_SERVER.format(root=str(ROOT), port=bare_port))
    processes = [
        subprocess.Popen(
            [
                str(Path(sys.executable).parent / "daphne"),
                "-b",
                "127.0.0.1",
                "-p",
                str(hub_port),
                "mcpsite.asgi:application",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [sys.executable, str(data / "bare.py")],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    try:
        wait_for(hub_port, processes[0])
        wait_for(bare_port, processes[1])
        wait_ready(hub_port)
        print(f"{calls} tools/call of text_statistics per row; milliseconds per call")
        print(f"{'era':<12}{'server':<8}{'median':>9}{'p95':>9}{'ratio':>8}")
        for mode, era in (("legacy", "2025-11-25"), ("auto", "2026-07-28")):
            bare = asyncio.run(measure(f"http://127.0.0.1:{bare_port}/mcp", None, mode, calls))
            hub = asyncio.run(measure(f"http://127.0.0.1:{hub_port}/mcp", token, mode, calls))
            base = statistics.median(bare)
            for name, samples in (("bare", bare), ("hub", hub)):
                median = statistics.median(samples)
                p95 = statistics.quantiles(samples, n=20)[-1]
                print(f"{era:<12}{name:<8}{median * 1000:>9.2f}{p95 * 1000:>9.2f}{median / base:>8.2f}")
    finally:
        stop_all(processes)


if __name__ == "__main__":
    main()
