"""A soak run: mixed traffic at a set rate against one hub for a long time, so that leaks,
slow growth and rare errors show.

Starts daphne serving mcpsite on a fresh DATA_DIR (SQLite unless --database-url) and
sends, open-loop at --rate requests per second for --duration seconds (10 minutes by
default), a mix of:
  REST execute of text_statistics, calculate and detect_language; stateless 2026-07-28
  MCP tools/call and tools/list; the executions list; /healthz; and bad requests (an
  unknown tool, invalid arguments) that must answer 4xx, never 5xx.
Every --interval seconds it prints one line per window: requests, answers as expected,
shed (503 with Retry-After: the tool pool's backpressure), other 5xx, transport errors,
late sends (the client fell behind), p50/p95/p99 latency, and the RSS of the web process
with its tool processes. At the end: totals and the RSS growth from the end of the first
window (after warm-up) to the end. Exits 1 on any other 5xx or transport error, or when RSS grew
more than --max-rss-growth percent.

    .venv/bin/python bench/soak.py [--duration 600] [--rate 20] [--interval 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2026-07-28",
               "Content-Type": "application/json"}
TEXT = "Short sentences help. Long ones, with clauses and asides, rarely do. " * 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants (the tool processes), in MB."""
    total, seen, todo = 0, set(), [pid]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        todo += [int(child) for child in children]
    return total / 1024


META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "soak", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {}}


def mcp_call(n: int, name: str, arguments: dict) -> dict:
    return {"jsonrpc": "2.0", "id": n, "method": "tools/call", "params": {"name": name, "arguments": arguments,
                                                                          "_meta": META}}


# (name, weight, method, path, body or None, statuses that count as expected)
def requests_mix(n: int) -> list[tuple[str, int, str, str, object, set[int]]]:
    return [
        ("rest text_statistics", 20, "POST", "/api/v1/tools/text_statistics/execute/",
         {"arguments": {"text": TEXT + str(n)}}, {200}),
        ("rest calculate", 10, "POST", "/api/v1/tools/calculate/execute/",
         {"arguments": {"expression": f"({n} + 3) * 7 / 2"}}, {200}),
        ("rest detect_language", 10, "POST", "/api/v1/tools/detect_language/execute/",
         {"arguments": {"text": "Ceci est une phrase en français, écrite pour le test."}}, {200}),
        ("mcp tools/call", 20, "POST", "/mcp", mcp_call(n, "text_statistics", {"text": TEXT}), {200}),
        ("mcp tools/list", 5, "POST", "/mcp", {"jsonrpc": "2.0", "id": n, "method": "tools/list",
                                              "params": {"_meta": META}}, {200}),
        ("executions list", 10, "GET", "/api/v1/executions/?limit=20", None, {200}),
        ("healthz", 10, "GET", "/healthz", None, {200}),
        ("unknown tool", 5, "POST", "/api/v1/tools/no_such_tool/execute/", {"arguments": {}}, {404}),
        ("invalid arguments", 10, "POST", "/api/v1/tools/calculate/execute/", {"arguments": {"expression": 7}}, {400}),
    ]


@dataclass
class Window:
    sent: int = 0
    ok: int = 0
    server_errors: int = 0
    shed: int = 0
    unexpected: int = 0
    transport_errors: int = 0
    late: int = 0
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100)[q - 1]


async def drive(base: str, token: str, args: argparse.Namespace, pid: int) -> tuple[Window, list[float]]:
    import httpx2

    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx2.Limits(max_connections=args.max_outstanding)
    total, window, rss = Window(), Window(), []
    rng = random.Random(args.seed)
    outstanding = asyncio.Semaphore(args.max_outstanding)
    tasks: set[asyncio.Task] = set()

    async def one(http: httpx2.AsyncClient, n: int) -> None:
        name, _, method, path, body, expected = rng.choices(mix, weights=[m[1] for m in mix])[0]
        started = time.perf_counter()
        try:
            extra = {}
            if path == "/mcp":
                extra = {**MCP_HEADERS, "Mcp-Method": body["method"]}
                if body["method"] == "tools/call":
                    extra["Mcp-Name"] = body["params"]["name"]
            response = await http.request(method, base + path, json=body, headers={**headers, **extra})
            elapsed = time.perf_counter() - started
            for target in (window, total):
                target.latencies.append(elapsed)
                if response.status_code == 503 and response.headers.get("retry-after"):
                    target.shed += 1  # refused early by design (the pool's backpressure), not a failure
                elif response.status_code >= 500:
                    target.server_errors += 1
                    target.failures.append(f"{name}: {response.status_code} {response.text[:200]}")
                elif response.status_code in expected:
                    target.ok += 1
                else:
                    target.unexpected += 1
                    target.failures.append(f"{name}: {response.status_code} {response.text[:200]}")
        except httpx2.HTTPError as exc:
            for target in (window, total):
                target.transport_errors += 1
                target.failures.append(f"{name}: {type(exc).__name__} {exc}")
        finally:
            outstanding.release()

    mix = requests_mix(0)
    async with httpx2.AsyncClient(timeout=args.timeout, limits=limits) as http:
        start = time.monotonic()
        next_report = start + args.interval
        n = 0
        print(f"{'elapsed':>8}{'sent':>7}{'ok':>7}{'shed':>5}{'5xx':>5}{'4xx?':>5}{'err':>5}{'late':>5}"
              f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'RSS MB':>9}", flush=True)
        while (now := time.monotonic()) < start + args.duration:
            due = start + n / args.rate
            if due > now:
                await asyncio.sleep(due - now)
            if outstanding.locked():  # the hub (or this client) fell behind: count, don't queue
                window.late += 1
                total.late += 1
            else:
                await outstanding.acquire()
                mix = requests_mix(n)
                task = asyncio.create_task(one(http, n))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                window.sent += 1
                total.sent += 1
            n += 1
            if time.monotonic() >= next_report:
                rss.append(rss_mb(pid))
                report(time.monotonic() - start, window, rss[-1])
                window = Window()
                next_report += args.interval
        await asyncio.gather(*tasks)
    rss.append(rss_mb(pid))
    report(time.monotonic() - start, window, rss[-1])
    return total, rss


def report(elapsed: float, w: Window, rss: float) -> None:
    print(f"{elapsed:>8.0f}{w.sent:>7}{w.ok:>7}{w.shed:>5}{w.server_errors:>5}{w.unexpected:>5}{w.transport_errors:>5}"
          f"{w.late:>5}{percentile(w.latencies, 50) * 1000:>9.1f}{percentile(w.latencies, 95) * 1000:>9.1f}"
          f"{percentile(w.latencies, 99) * 1000:>9.1f}{rss:>9.1f}", flush=True)
    for failure in w.failures[:5]:
        print(f"    {failure}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600)
    parser.add_argument("--rate", type=float, default=20, help="requests per second, all kinds together")
    parser.add_argument("--interval", type=float, default=30, help="seconds per reported window")
    parser.add_argument("--max-outstanding", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=30)
    parser.add_argument("--max-rss-growth", type=float, default=50, help="percent, first window's end to the end")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default="", help="default: SQLite in a fresh DATA_DIR")
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="mcpsite-soak-"))
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CELERY_BROKER_URL", "DATABASE_URL")}
    # No rate limit or result cache: every request does the work.
    env.update(DATA_DIR=str(data), LOG_LEVEL="WARNING", TOOL_RATE_LIMIT="0", TOOL_CACHE_TTL="0",
               MCP_STATELESS="1", ADDIN_WS_RATE_LIMIT="1000/s")
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True)
    token = subprocess.run([*manage, "create_token", "soak", "--create-user"], cwd=ROOT, env=env, check=True,
                           capture_output=True, text=True).stdout.strip()
    port = free_port()
    with open(data / "daphne.log", "wb") as log:
        hub = subprocess.Popen([str(Path(sys.executable).parent / "daphne"), "-b", "127.0.0.1", "-p", str(port),
                                "mcpsite.asgi:application"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)
        print(f"soak: {args.duration:g} s at {args.rate:g} req/s against {base} (log: {data / 'daphne.log'})")
        total, rss = asyncio.run(drive(base, token, args, hub.pid))
    finally:
        hub.terminate()
        try:
            hub.wait(timeout=30)
        except subprocess.TimeoutExpired:
            hub.kill()

    growth = (rss[-1] - rss[0]) / rss[0] * 100 if rss and rss[0] else 0.0
    print(f"total: sent {total.sent}, ok {total.ok}, shed (503 busy, Retry-After) {total.shed}, "
          f"other 5xx {total.server_errors}, unexpected 4xx "
          f"{total.unexpected}, transport errors {total.transport_errors}, late {total.late}")
    print(f"latency ms: p50 {percentile(total.latencies, 50) * 1000:.1f}, p95 {percentile(total.latencies, 95) * 1000:.1f}, "
          f"p99 {percentile(total.latencies, 99) * 1000:.1f}")
    print(f"RSS MB: after the first window {rss[0]:.1f}, at the end {rss[-1]:.1f} ({growth:+.1f}%)")
    failed = total.server_errors or total.transport_errors or total.unexpected or growth > args.max_rss_growth
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
