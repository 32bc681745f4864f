"""Throughput of a tool call under concurrent load: the hub against the bare SDK server.

Both serve the same text_statistics code over Streamable HTTP on loopback:
  bare  the official SDK's low-level ``Server`` (uvicorn), calling the tool code directly
  hub   daphne serving mcpsite: the whole path (token, policy, rate limit, the
        ToolExecution row, the tool process, the result)
Load comes from ``wrk`` (a Lua script varies the text of every request, so that the
hub's result cache never answers); the WebSocket door is driven by a Python client.
Servers are pinned to CPU 0 and the load to the others when ``taskset`` exists and the
machine has two CPUs or more. Runs are interleaved (every target once per round) and
the median of the rounds is reported: req/s, p50, p99, and req/s against the bare
server's in the same era and concurrency (the ratio is what compares between runs).

    .venv/bin/python bench/bench_throughput.py [--seconds 8] [--rounds 3]

A third server, ``floor``, is the bare one plus what the design requires of every call:
the call's row INSERTed when it starts and UPDATEd when it ends, on one hop from the event
loop to a thread, and the tool run in another process over a pipe (no token, policy, rate
limit, metrics or logs). It takes the 2026-07-28 load in the same rounds: its ratio is how
close the design lets the hub come to the bare server, and the hub's against it what the
hub's own code costs.

Doors: MCP 2026-07-28 (stateless requests), MCP 2025-11-25 (a session, after the
handshake), REST execute, the task pane's WebSocket ``tool_execute``. With
``DATABASE_URL`` set (PostgreSQL; the bench migrates that database and adds its rows),
the hub also runs as two web processes to show how throughput scales (not pinned).
A second hub (``hub+hist``) has ``--history`` executions (100,000 by default; 0: no such
hub) stored beforehand in its own database, in the sessions its calls are recorded in, and
takes the stateless MCP and REST load in the same rounds: its req/s against the empty
hub's is how a call's cost grows with history (issue 10: the same throughput).
Last, the hub process's RSS after at least 10,000 recorded calls (the calls above, topped
up with stateless MCP calls when they were fewer) and one call of every built-in.
Needs wrk (``apt-get install wrk``) and websockets (``make install-dev``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench_mcp import ROOT, free_port, migrate_with_token, stop_all, wait_for, wait_ready

# What both servers are made of: the same tool, listed the same way, served the same way.
_SERVER_HEAD = """
import sys
sys.path.insert(0, {root!r})
import os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mcpsite.settings")
import django
django.setup()
import uvicorn
import mcp_types as types
from mcp.server import Server
from tools.builtin.text_statistics import TextStatisticsTool

tool = TextStatisticsTool()


async def list_tools(ctx, params):
    return types.ListToolsResult(tools=[types.Tool(name=tool.name, input_schema=tool.input_schema)])

"""
_SERVER_TAIL = """

server = Server("{name}", on_list_tools=list_tools, on_call_tool=call_tool)
uvicorn.run(server.streamable_http_app(), host="127.0.0.1", port={port}, log_level="warning")
"""

BARE_SERVER = _SERVER_HEAD + """
async def call_tool(ctx, params):
    result = tool.run(tool.validate(params.arguments or {{}}), None).model_dump()
    return types.CallToolResult(content=[types.TextContent(type="text", text=str(result))], structured_content=result)
""" + _SERVER_TAIL

# The bare server plus what the design requires of every call and nothing else: the call's
# row written when it starts and when it ends (the hub's own INSERT and finishing UPDATE,
# executions.rows, single autocommitted statements, on one hop from the event loop to a
# thread) and the tool run in another process (a forked worker over a pipe, as many as the
# hub's tool pool has). No token, policy, rate limit, metrics or logs. Its req/s against
# the bare server's is how far the design itself lets the hub come; the hub's against it
# is what the hub's own code costs.
FLOOR_SERVER = _SERVER_HEAD + """
import multiprocessing
import queue
import traceback

import anyio
from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone
from accounts.models import User
from executions import rows
from executions.models import Session, ToolExecution, Via

# A user of its own: the hub's recorded calls (what the RSS figure counts) stay the hub's.
user = User.objects.get_or_create(username="bench-floor")[0]
session = Session.objects.create(user=user, kind=Session.Kind.MCP)
connection.close()


def worker(pipe, parent):
    while os.getppid() == parent:  # ends with the server
        if pipe.poll(1):
            pipe.send(tool.run(tool.validate(pipe.recv()), None).model_dump())


fork = multiprocessing.get_context("fork")
workers = queue.SimpleQueue()
for _ in range(settings.TOOL_POOL_SIZE):  # forked before any thread starts
    ours, theirs = fork.Pipe()
    fork.Process(target=worker, args=(theirs, os.getpid()), daemon=True).start()
    workers.put(ours)


def recorded(arguments):
    close_old_connections()
    execution = ToolExecution(
        tool_name=tool.name, via=Via.MCP, arguments=arguments, status=ToolExecution.Status.RUNNING,
        user=user, session=session,
    )
    execution.started = execution.created
    rows.insert(execution)
    pipe = workers.get()
    try:
        pipe.send(arguments)
        result = pipe.recv()
    finally:
        workers.put(pipe)
    finished = timezone.now()
    values = dict(status=ToolExecution.Status.SUCCESS, result=result, finished=finished,
                  duration_ms=int((finished - execution.started).total_seconds() * 1000))
    if rows.finish(execution.pk, where_status_in=[ToolExecution.Status.RUNNING], values=values) != 1:
        raise RuntimeError("the row was not finished")
    if settings.DATABASES["default"]["CONN_MAX_AGE"] == 0:
        connection.close()  # PostgreSQL: back to the pool, as the hub's threads do
    return result


async def call_tool(ctx, params):
    try:
        result = await anyio.to_thread.run_sync(recorded, params.arguments or {{}})
    except Exception:
        # A JSON-RPC error is an HTTP 200, which wrk would count as served: stop instead,
        # so that every later request fails and the bench shows errors.
        traceback.print_exc()
        os._exit(1)
    return types.CallToolResult(content=[types.TextContent(type="text", text=str(result))], structured_content=result)
""" + _SERVER_TAIL

# One request per call; NNN becomes a number unique to the request (its text and its
# JSON-RPC id: a session refuses an id that is still in flight).
LUA = """
local counter = 0
local thread_no = 0
function setup(thread)
  thread:set("first", thread_no * 100000000)
  thread_no = thread_no + 1
end
function init(args)
  counter = first
end
function request()
  counter = counter + 1
  local body = string.gsub([[%s]], "NNN", tostring(counter))
  return wrk.format("POST", "%s", %s, body)
end
"""

TEXT = "Call NNN is short. Long ones, with clauses and asides, rarely do."


def _lua_headers(headers: dict[str, str]) -> str:
    return "{" + ", ".join(f'["{k}"] = "{v}"' for k, v in headers.items()) + "}"


@dataclass
class Target:
    name: str
    era: str
    port: int
    path: str
    headers: dict[str, str]
    body: str  # NNN: the request's number

    def lua(self) -> str:
        return LUA % (self.body, self.path, _lua_headers(self.headers))


@dataclass
class Figures:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def mcp_modern(port: int, token: str | None) -> Target:
    body = json.dumps({
        "jsonrpc": "2.0", "id": "NNN", "method": "tools/call",
        "params": {"name": "text_statistics", "arguments": {"text": TEXT}, "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {},
        }},
    })
    headers = {
        "Content-Type": "application/json", "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "text_statistics",
    }
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return Target("", "2026-07-28", port, "/mcp", headers, body)


def mcp_session(port: int, token: str | None) -> Target:
    """2025-11-25: the handshake once, then every request on its session."""
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    initialize = json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}})
    request = urllib.request.Request(f"http://127.0.0.1:{port}/mcp", data=initialize.encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        session_id = response.headers["mcp-session-id"]
        response.read()
    headers.update({"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"})
    notify = json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}).encode()
    urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/mcp", data=notify, headers=headers),
                           timeout=30).read()
    body = json.dumps({"jsonrpc": "2.0", "id": "NNN", "method": "tools/call",
                       "params": {"name": "text_statistics", "arguments": {"text": TEXT}}})
    return Target("", "2025-11-25", port, "/mcp", headers, body)


def rest(port: int, token: str) -> Target:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    return Target("", "REST", port, "/api/v1/tools/text_statistics/execute/", headers,
                  json.dumps({"arguments": {"text": TEXT}}))


def pin(cpus: str) -> list[str]:
    return ["taskset", "-c", cpus] if PINNED else []


def run_wrk(target: Target, connections: int, seconds: float, workdir: Path) -> Figures:
    script = workdir / f"{abs(hash((target.name, target.era, target.port)))}.lua"
    script.write_text(target.lua())
    threads = min(connections, 2)
    out = subprocess.run(
        [
            *pin(LOAD_CPUS),
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{max(1, round(seconds))}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{target.port}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    try:
        return parse_wrk(out)
    except ValueError:
        raise SystemExit(f"could not read wrk's output:\n{out}") from None


def _search(pattern: str, text: str, flags: int = 0) -> re.Match[str]:
    found = re.search(pattern, text, flags)
    if found is None:
        raise ValueError(f"wrk's output has no {pattern!r}")
    return found


def _ms(value: str) -> float:
    number, unit = _search(r"\A([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def parse_wrk(out: str) -> Figures:
    rps = float(_search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(_search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = _ms(_search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    errors = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)) else 0
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return Figures(rps, p50, p99, errors)


async def ws_load(port: int, token: str, connections: int, seconds: float) -> Figures:
    """Each connection signs in, then sends tool_execute and waits for the result, again and again."""
    import websockets
    from websockets.typing import Origin

    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds

    async def one(n: int) -> None:
        nonlocal errors
        async with websockets.connect(
            f"ws://127.0.0.1:{port}/ws/addin/", origin=Origin(f"http://127.0.0.1:{port}")
        ) as ws:
            await ws.send(json.dumps({"type": "auth", "token": token, "client": "bench"}))
            json.loads(await ws.recv())
            i = 0
            while time.monotonic() < deadline:
                i += 1
                start = time.perf_counter()
                await ws.send(json.dumps({"type": "tool_execute", "id": str(i), "tool": "text_statistics",
                                          "arguments": {"text": TEXT.replace("NNN", str(n * 100000000 + i))}}))
                while True:
                    frame = json.loads(await ws.recv())
                    if frame["type"] in ("execution_result", "error"):
                        break
                if frame["type"] == "error" or frame.get("status") != "success":
                    errors += 1
                latencies.append(time.perf_counter() - start)

    started = time.monotonic()
    await asyncio.gather(*(one(n + 1) for n in range(connections)))
    elapsed = time.monotonic() - started
    latencies.sort()
    return Figures(len(latencies) / elapsed, latencies[len(latencies) // 2] * 1000,
                   latencies[int(len(latencies) * 0.99)] * 1000, errors)


def median_rps(runs: list[Figures]) -> float:
    return statistics.median(f.rps for f in runs)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start(command: list[str], env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    process = subprocess.Popen([*pin(SERVER_CPUS), *command], cwd=ROOT, env=env, stdout=log.open("w"),
                               stderr=subprocess.STDOUT)
    wait_for(port, process)
    return process


def daphne(port: int) -> list[str]:
    return [str(Path(sys.executable).parent / "daphne"), "-b", "127.0.0.1", "-p", str(port), "mcpsite.asgi:application"]


HISTORY_SCRIPT = """
import sys
sys.path.insert(0, {root!r})
sys.path.insert(0, {bench!r})
import django
django.setup()
from accounts.models import User
from bench_pages import add_rows
from executions.models import Session
from executions.rollup import rollup_executions

user = User.objects.get(username="bench")
sessions = list(Session.objects.filter(user=user))
share = {count} // len(sessions)
for n, session in enumerate(sessions):
    add_rows(user, session, share if n < len(sessions) - 1 else {count} - n * share, n * share)
rollup_executions(max_batches={count})
"""


def fresh_database(url: str, suffix: str) -> str:
    """A new, empty PostgreSQL database beside ``url``'s (dropped first if it exists)."""
    from urllib.parse import urlsplit, urlunsplit

    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/") + suffix
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return urlunsplit(parts._replace(path="/" + name))


def add_history(env: dict[str, str], count: int) -> None:
    """Store ``count`` finished executions of the user "bench", shared out among its
    sessions (the ones its calls are recorded in), over the last 23 hours."""
    script = HISTORY_SCRIPT.format(root=str(ROOT), bench=str(Path(__file__).resolve().parent), count=count)
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "mcpsite.settings"},
                   check=True)


def call_every_builtin(port: int, token: str) -> None:
    arguments = {
        "text_statistics": {"text": "One. Two."}, "spell_check": {"text": "Speling is hard."},
        "summarize": {"text": "One sentence here. Another one there. A third one."},
        "extract_keywords": {"text": "Django channels carry websocket frames."},
        "detect_language": {"text": "Ceci est une phrase en français."},
        "calculate": {"expression": "2 * (3 + 4)"}, "convert_units": {"value": 3, "from_unit": "km", "to_unit": "mi"},
    }
    listed = json.loads(urllib.request.urlopen(urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/tools/", headers={"Authorization": f"Bearer {token}"}), timeout=30).read())
    for tool in listed:
        if tool["source"] != "builtin" or tool["name"] not in arguments:
            continue
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/tools/{tool['name']}/execute/",
            data=json.dumps({"arguments": arguments[tool["name"]]}).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        # A tool whose arguments differ here fails: its library is loaded all the same.
        with contextlib.suppress(urllib.error.HTTPError):
            urllib.request.urlopen(request, timeout=60).read()


def recorded_calls(port: int, token: str) -> int:
    listed = urllib.request.urlopen(urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/executions/?page_size=1",
        headers={"Authorization": f"Bearer {token}"}), timeout=60).read()
    return int(json.loads(listed)["count"])


RSS_AFTER_CALLS = 10_000
CPUS = os.cpu_count() or 1
PINNED = bool(shutil.which("taskset")) and CPUS >= 2
SERVER_CPUS = "0"
LOAD_CPUS = f"1-{CPUS - 1}" if CPUS > 1 else "0"


def main() -> None:
    global PINNED
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", default="1,10")
    parser.add_argument("--history", type=int, default=100_000,
                        help="executions stored beforehand in the second hub's database (0: no second hub)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("bench_throughput needs wrk: apt-get install wrk")
    levels = [int(c) for c in args.concurrency.split(",")]

    data = Path(tempfile.mkdtemp(prefix="mcpsite-bench-throughput-"))
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CELERY_BROKER_URL")}
    on_postgres = env.get("DATABASE_URL", "").startswith("postgres")
    # No rate limit and no result cache: every request runs the tool. The tool pool may
    # queue every connection of the load (one user here).
    env.update(DATA_DIR=str(data), LOG_LEVEL="WARNING", TOOL_RATE_LIMIT="0", TOOL_CACHE_TTL="0",
               TOOL_POOL_QUEUE="64", TOOL_POOL_PER_USER="64", MCP_MAX_SESSIONS_PER_TOKEN="100",
               ADDIN_WS_RATE_LIMIT="100000/s")
    token = migrate_with_token(env)

    hub_port, bare_port, floor_port = free_port(), free_port(), free_port()
    (data / "bare.py").write_text(BARE_SERVER.format(root=str(ROOT), name="bare", port=bare_port))
    (data / "floor.py").write_text(FLOOR_SERVER.format(root=str(ROOT), name="floor", port=floor_port))
    hub = start(daphne(hub_port), env, hub_port, data / "hub.log")
    bare = start([sys.executable, str(data / "bare.py")], env, bare_port, data / "bare.log")
    floor = start([sys.executable, str(data / "floor.py")], env, floor_port, data / "floor.log")
    processes = [hub, bare, floor]
    try:
        wait_ready(hub_port)
        rss_start = rss_mb(hub.pid)
        targets = {
            ("bare", "2026-07-28"): mcp_modern(bare_port, None),
            ("floor", "2026-07-28"): mcp_modern(floor_port, None),
            ("hub", "2026-07-28"): mcp_modern(hub_port, token),
            ("bare", "2025-11-25"): mcp_session(bare_port, None),
            ("hub", "2025-11-25"): mcp_session(hub_port, token),
            ("hub", "REST"): rest(hub_port, token),
        }
        for (name, _), target in targets.items():
            target.name = name
        if args.history:
            history_env = {**env, "DATA_DIR": str(data / "history")}
            Path(history_env["DATA_DIR"]).mkdir()
            if on_postgres:
                history_env["DATABASE_URL"] = fresh_database(env["DATABASE_URL"], "_history")
            history_token = migrate_with_token(history_env)
            history_port = free_port()
            history = start(daphne(history_port), history_env, history_port, data / "hub-history.log")
            wait_ready(history_port)
            processes.append(history)
            for era, target in (("2026-07-28", mcp_modern(history_port, history_token)),
                                ("REST", rest(history_port, history_token))):
                target.name = "hub+hist"
                targets[("hub+hist", era)] = target
                run_wrk(target, 2, 1, data)  # its first calls make the sessions that the history goes in
            started = time.monotonic()
            add_history(history_env, args.history)
            print(f"{args.history} executions stored in hub+hist's database in {time.monotonic() - started:.0f} s")
        for target in targets.values():  # warm up: tool processes, caches, JIT of nothing
            run_wrk(target, 2, 2, data)
        asyncio.run(ws_load(hub_port, token, 2, 2))

        results: dict[tuple[str, str, int], list[Figures]] = {}
        for _ in range(args.rounds):
            for level in levels:
                for key, target in targets.items():
                    results.setdefault((*key, level), []).append(run_wrk(target, level, args.seconds, data))
                figures = asyncio.run(ws_load(hub_port, token, level, args.seconds))
                results.setdefault(("hub", "WebSocket", level), []).append(figures)

        print(f"text_statistics, {args.rounds} rounds of {args.seconds:g} s, median of the rounds; "
              f"{'servers on CPU 0, load on ' + LOAD_CPUS if PINNED else 'not pinned'}; "
              f"hub on {'PostgreSQL' if on_postgres else 'SQLite'}")
        print(f"{'door':<12}{'server':<10}{'conc':>5}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'ratio':>8}")
        for level in levels:
            for era in ("2026-07-28", "2025-11-25", "REST", "WebSocket"):
                base = median_rps(results[("bare", "2026-07-28" if era in ("REST", "WebSocket") else era, level)])
                for name in ("bare", "floor", "hub", "hub+hist"):
                    runs = results.get((name, era, level))
                    if not runs:
                        continue
                    rps = median_rps(runs)
                    print(f"{era:<12}{name:<10}{level:>5}{rps:>9.1f}{statistics.median(f.p50_ms for f in runs):>9.2f}"
                          f"{statistics.median(f.p99_ms for f in runs):>9.2f}{sum(f.errors for f in runs):>8}"
                          f"{rps / base:>8.2f}")
        print("(ratio: req/s against the bare server's in the same era and concurrency; REST and WebSocket "
              "against its 2026-07-28; floor: the bare server with the call's row written at its start and "
              "end and the tool run in another process, what the design requires and nothing else)")
        if args.history:
            for level in levels:
                ratios = {
                    era: median_rps(results[("hub+hist", era, level)]) / median_rps(results[("hub", era, level)])
                    for era in ("2026-07-28", "REST")
                }
                grown = ", ".join(f"{era} {ratio:.2f}" for era, ratio in ratios.items())
                print(f"with {args.history} executions stored, concurrency {level}, "
                      f"req/s against the empty hub's: {grown}")
            processes.remove(history)  # what follows measures the empty hub alone
            stop_all([history])

        if on_postgres:
            second_port = free_port()
            PINNED = False  # two servers and the load share the machine's CPUs
            second = start(daphne(second_port), env, second_port, data / "hub2.log")
            wait_ready(second_port)
            processes.append(second)
            one_target, two_target = mcp_modern(hub_port, token), mcp_modern(second_port, token)
            for target in (one_target, two_target):
                target.name = "hub"
                run_wrk(target, 2, 2, data)
            level = max(levels)
            one = statistics.median(run_wrk(one_target, level, args.seconds, data).rps for _ in range(args.rounds))
            twos = []
            for _ in range(args.rounds):
                with tempfile.TemporaryDirectory() as tmp:
                    halves = [
                        subprocess.Popen(
                            [
                                "wrk",
                                "-t",
                                "1",
                                "-c",
                                str(max(1, level // 2)),
                                "-d",
                                f"{max(1, round(args.seconds))}s",
                                "--latency",
                                "-s",
                                str(Path(tmp) / f"{i}.lua"),
                                f"http://127.0.0.1:{t.port}",
                            ],
                            stdout=subprocess.PIPE,
                            text=True,
                        )
                        for i, t in enumerate((one_target, two_target))
                        if (Path(tmp) / f"{i}.lua").write_text(t.lua()) or True
                    ]
                    twos.append(sum(parse_wrk(h.communicate()[0]).rps for h in halves))
            two = statistics.median(twos)
            print(f"PostgreSQL, 2026-07-28, concurrency {level}: one web process {one:.1f} req/s, "
                  f"two {two:.1f} req/s ({two / one:.2f}x)")

        served = recorded_calls(hub_port, token)
        while served < RSS_AFTER_CALLS:  # issue 10's memory target is the RSS after 10,000 calls
            run_wrk(targets[("hub", "2026-07-28")], max(levels), 2, data)
            served = recorded_calls(hub_port, token)
        call_every_builtin(hub_port, token)
        print(f"hub web process RSS: {rss_start:.0f} MB at start, {rss_mb(hub.pid):.0f} MB after "
              f"{served} recorded calls and one call of every built-in")
    finally:
        stop_all(processes)


if __name__ == "__main__":
    main()
