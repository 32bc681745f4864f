"""A background tool call through the hub's Celery path against a raw Celery round trip.

Issue 10 asks: POST to final status of a no-op background tool within 1.5x a raw Celery
round trip on the same broker (dispatch on commit, result pushed, no polling). Rows:
  raw Celery    a Celery app of this bench (broker and result backend Redis db 13), a
                no-op task, a real worker (prefork, concurrency 2, acks_late and
                prefetch 1 as the hub's), timed ``task.delay().get()``: the baseline
  hub MCP bg    a stateless 2026-07-28 ``tools/call`` of ``fetch_url`` (a background
                tool) over POST /mcp; the hub (daphne, Redis db 14) records the call,
                sends it to a real hub worker and answers with the result
  hub REST bg   POST /api/v1/tools/fetch_url/execute/ (202 + Location), then GET of
                that location every 2 ms until the status is final (+poll); or the POST
                with ``Prefer: wait=30``, answered with the finished row (+wait)
  hub MCP eager the same MCP call to a second web process of the same hub without a
                broker (eager Celery: the tool runs in the web process's tool pool)
  hub MCP inline text_statistics (an inline tool) over MCP: the hub's fixed cost of a call
  fetch direct  fetch_url's own code fetching the page in one Python process: what the
                tool itself costs, so that it can be told apart from the path
``fetch_url`` fetches a tiny text page from a loopback HTTP server of the bench (its
URL varies per call, so the result cache never answers). Calls are sequential
(concurrency 1). Runs are interleaved (every row once per round) and the median of the
rounds is reported: p50, p99, mean in ms, and p50 against raw Celery's. Then, from the
rows' own timestamps (created, started, finished), where a background call's time goes.

    .venv/bin/python bench/bench_celery.py [--calls 200] [--rounds 3] [--postgres]
                                           [--profile DIR]

``--postgres`` runs the hub on PostgreSQL (database ``bench_celery`` on 127.0.0.1:5432,
user postgres, dropped and created anew); SQLite otherwise. ``--profile DIR`` records
py-spy (``.venv/bin/py-spy``, ``py-spy`` on PATH or ``$PY_SPY``; root or ptrace rights)
on the hub worker (with its children) and on daphne during a burst of MCP background
calls, as collapsed stacks in DIR. Needs Redis on 127.0.0.1:6379: the bench empties and
uses databases 13 and 14 only.
"""

from __future__ import annotations

import argparse
import functools
import http.client
import importlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from bench_mcp import ROOT, free_port, migrate_with_token, stop_all, wait_for, wait_ready

RAW_DB, HUB_DB = 13, 14
REDIS = "redis://127.0.0.1:6379"
FINAL = {"success", "error", "timeout", "cancelled"}
POLL_SECONDS = 0.002
PG_URL = "postgres://postgres@127.0.0.1:5432/bench_celery"

# The baseline's app: Celery's defaults plus the delivery settings the hub's worker uses
# (mcpsite/settings.py: acks_late, prefetch multiplier 1, JSON).
RAW_APP = """
from celery import Celery

app = Celery("rawcelery", broker={url!r}, backend={url!r})
app.conf.update(task_acks_late=True, worker_prefetch_multiplier=1, task_serializer="json",
                result_serializer="json", accept_content=["json"], broker_connection_retry_on_startup=True)


@app.task(name="rawcelery.noop")
def noop(n):
    return n
"""

# fetch_url's own code, in one process: what the tool costs without the hub around it.
DIRECT_FETCH = """
import json, os, sys, time
sys.path.insert(0, {root!r})
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mcpsite.settings")
import django
django.setup()
from tools.base import ToolContext
from tools.builtin.fetch_url import FetchUrlTool

tool = FetchUrlTool()
url, calls = sys.argv[1], int(sys.argv[2])
def once(n):
    start = time.perf_counter()
    out = tool.run(tool.validate({{"url": f"{{url}}?direct={{n}}"}}), ToolContext(user=None, execution_id="bench"))
    assert out.status == 200, out
    return time.perf_counter() - start
for n in range(10):
    once(-n)
print(json.dumps([once(n) for n in range(calls)]))
"""


# --- Processes --------------------------------------------------------------------------


def flush_redis() -> None:
    import redis

    for db in (RAW_DB, HUB_DB):
        redis.Redis.from_url(f"{REDIS}/{db}").flushdb()


def counters(postgres: bool) -> tuple[int, int, int]:
    """Redis's connections and commands (server-wide) and, on PostgreSQL, the bench
    database's sessions (connections that ended) so far."""
    import redis

    info = redis.Redis.from_url(f"{REDIS}/{HUB_DB}").info("stats")
    sessions = 0
    if postgres:
        import psycopg

        time.sleep(1.5)  # backends report their statistics at most once a second
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            row = conn.execute("SELECT sessions FROM pg_stat_database WHERE datname = 'bench_celery'").fetchone()
            assert row is not None, "no statistics for the bench_celery database"
            sessions = row[0]
    return info["total_connections_received"], info["total_commands_processed"], sessions


def drop_postgres() -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS bench_celery WITH (FORCE)")


def fresh_postgres() -> None:
    import psycopg

    drop_postgres()
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute("CREATE DATABASE bench_celery")


def celery_worker(app: str, env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen:
    command = [str(Path(sys.executable).parent / "celery"), "-A", app, "worker", "--pool", "prefork",
               "--concurrency", "2", "--loglevel", "WARNING", "--without-gossip", "--without-mingle"]
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def daphne(port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "daphne"), "-b", "127.0.0.1", "-p", str(port), "mcpsite.asgi:application"],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    wait_for(port, process)
    wait_ready(port)
    return process


def page_server(port: int, directory: Path) -> subprocess.Popen:
    (directory / "page.txt").write_text("ok\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", "-b", "127.0.0.1", "-d", str(directory), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(port, process)
    return process


# --- One call of each kind ----------------------------------------------------------------


class Hub:
    """A kept-alive HTTP/1.1 connection to one web process, with the bench's token."""

    def __init__(self, port: int, token: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.auth = {"Authorization": f"Bearer {token}"}

    def request(self, method: str, path: str, body: dict | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        data = json.dumps(body).encode() if body is not None else None
        all_headers = {**self.auth, "Content-Type": "application/json", **(headers or {})}
        self.conn.request(method, path, body=data, headers=all_headers)
        response = self.conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()

    def mcp_call(self, tool: str, arguments: dict) -> dict:
        """A stateless 2026-07-28 tools/call; returns its result (JSON or the SSE stream's last message)."""
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": tool, "arguments": arguments, "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"},
                "io.modelcontextprotocol/clientCapabilities": {},
            }}}
        status, headers, raw = self.request("POST", "/mcp", body, {
            "Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2026-07-28",
            "Mcp-Method": "tools/call", "Mcp-Name": tool,
        })
        if headers.get("content-type", "").startswith("text/event-stream"):
            messages = [
                json.loads(line[5:])
                for line in raw.decode().splitlines()
                if line.startswith("data:") and line[5:].strip()
            ]
            message = next(m for m in reversed(messages) if "result" in m or "error" in m)
        else:
            message = json.loads(raw)
        if status != 200 or "error" in message or message["result"].get("isError"):
            raise SystemExit(f"tools/call {tool} failed: {status} {raw[:500]!r}")
        return message["result"]

    def rest_background(self, arguments: dict) -> dict:
        """POST execute (202), then GET the Location until the status is final."""
        status, headers, raw = self.request("POST", "/api/v1/tools/fetch_url/execute/", {"arguments": arguments})
        if status != 202:
            raise SystemExit(f"execute answered {status}: {raw[:500]!r}")
        path = "/" + headers["location"].split("://", 1)[-1].split("/", 1)[1]
        row = json.loads(raw)
        while row["status"] not in FINAL:
            time.sleep(POLL_SECONDS)
            status, _, raw = self.request("GET", path)
            row = json.loads(raw)
        if row["status"] != "success":
            raise SystemExit(f"execution ended {row['status']}: {row['error']}")
        return row

    def rest_wait(self, arguments: dict) -> dict:
        """POST execute with ``Prefer: wait=30``: 200 with the finished row, pushed."""
        status, _, raw = self.request("POST", "/api/v1/tools/fetch_url/execute/", {"arguments": arguments},
                                      {"Prefer": "wait=30"})
        row = json.loads(raw)
        if status != 200 or row["status"] != "success":
            raise SystemExit(f"execute with Prefer: wait answered {status}: {raw[:500]!r}")
        return row

    def rows(self, tag: str, limit: int) -> list[dict]:
        """The latest fetch_url executions whose URL carries ``tag``."""
        _, _, raw = self.request("GET", f"/api/v1/executions/?tool=fetch_url&limit={min(limit + 50, 500)}")
        return [r for r in json.loads(raw)["results"] if f"?{tag}=" in r["arguments"]["url"]]


def timed(calls: int, one) -> tuple[list[float], list[tuple[float, float]]]:
    """Latencies of ``calls`` sequential calls, and each call's (sent, answered) wall clock."""
    samples, clocks = [], []
    for n in range(calls):
        sent, start = time.time(), time.perf_counter()
        one(n)
        samples.append(time.perf_counter() - start)
        clocks.append((sent, time.time()))
    return samples, clocks


def figures(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    return (statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
            statistics.fmean(ordered) * 1000)


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def breakdown(rows: list[dict], clocks: dict[str, tuple[float, float]]) -> list[float]:
    """Median ms of: sent->created, created->started, started->finished, finished->answered."""
    parts: list[list[float]] = [[], [], [], []]
    for row in rows:
        key = row["arguments"]["url"].rsplit("=", 1)[-1]
        if key not in clocks or not row["started"] or not row["finished"]:
            continue
        sent, answered = clocks[key]
        marks = [sent, _ts(row["created"]), _ts(row["started"]), _ts(row["finished"]), answered]
        for i in range(4):
            parts[i].append((marks[i + 1] - marks[i]) * 1000)
    return [statistics.median(p) if p else float("nan") for p in parts]


# --- Profile --------------------------------------------------------------------------------


def py_spy() -> str | None:
    for candidate in (os.environ.get("PY_SPY"), str(Path(sys.executable).parent / "py-spy"), shutil.which("py-spy")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def profile(out: Path, worker: subprocess.Popen, web: subprocess.Popen, hub: Hub, url: str, calls: int) -> None:
    spy = py_spy()
    if spy is None:
        print("no py-spy (.venv/bin/py-spy, PATH or $PY_SPY): no profile")
        return
    out.mkdir(parents=True, exist_ok=True)
    recorders = [
        subprocess.Popen([spy, "record", "--format", "raw", "--rate", "500", "--subprocesses", "--nonblocking",
                          "-o", str(out / f"{name}.txt"), "--pid", str(process.pid)],
                         stdout=subprocess.DEVNULL, stderr=(out / f"{name}.log").open("w"))
        for name, process in (("worker", worker), ("daphne", web))
    ]
    time.sleep(2)  # py-spy attaches
    samples, _ = timed(calls, lambda n: hub.mcp_call("fetch_url", {"url": f"{url}?profile-{n}"}))
    for recorder in recorders:
        recorder.send_signal(signal.SIGINT)
    for recorder in recorders:
        recorder.wait(timeout=60)
    p50 = figures(samples)[0]
    print(f"profile: {calls} MCP background calls (p50 {p50:.1f} ms) recorded in {out}/worker.txt and daphne.txt")


# --- Main ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", action="store_true", help=f"the hub on PostgreSQL ({PG_URL})")
    parser.add_argument("--profile", type=Path, help="record py-spy profiles of the hub's worker and daphne here")
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="mcpsite-bench-celery-"))
    flush_redis()
    base_env = {k: v for k, v in os.environ.items()
                if k not in ("REDIS_URL", "CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER", "DATABASE_URL")}
    base_env.update(DATA_DIR=str(data), LOG_LEVEL="WARNING", TOOL_RATE_LIMIT="0", TOOL_CACHE_TTL="0",
                    FETCH_URL_ALLOWED_NETWORKS="127.0.0.0/8")
    if args.postgres:
        fresh_postgres()
        base_env["DATABASE_URL"] = PG_URL
    hub_env = {**base_env, "REDIS_URL": f"{REDIS}/{HUB_DB}"}
    eager_env = base_env  # no broker: the same hub's database, Celery eager, in-memory layer
    token = migrate_with_token(hub_env)

    (data / "rawcelery.py").write_text(RAW_APP.format(url=f"{REDIS}/{RAW_DB}"))
    (data / "direct_fetch.py").write_text(DIRECT_FETCH.format(root=str(ROOT)))
    (data / "www").mkdir()
    sys.path.insert(0, str(data))

    processes: list[subprocess.Popen] = []
    try:
        page_port, hub_port, eager_port = free_port(), free_port(), free_port()
        processes.append(page_server(page_port, data / "www"))
        raw_worker = celery_worker("rawcelery", {**base_env, "PYTHONPATH": str(data)}, data, data / "raw-worker.log")
        processes.append(raw_worker)
        hub_worker = celery_worker("mcpsite", hub_env, ROOT, data / "hub-worker.log")
        processes.append(hub_worker)
        web = daphne(hub_port, hub_env, data / "hub.log")
        processes.append(web)
        processes.append(daphne(eager_port, eager_env, data / "hub-eager.log"))

        noop = importlib.import_module("rawcelery").noop  # written above, at run time

        hub, eager = Hub(hub_port, token), Hub(eager_port, token)
        page = f"http://127.0.0.1:{page_port}/page.txt"
        # One call of each row: (round, n) -> None. The round and n are in fetch_url's URL,
        # so that every call misses the result cache and its row can be found afterwards.
        rows = {
            "raw Celery": lambda run, n: noop.delay(n).get(timeout=30),
            "hub MCP bg": lambda run, n: hub.mcp_call("fetch_url", {"url": f"{page}?mcp{run}={n}"}),
            "hub REST bg+poll": lambda run, n: hub.rest_background({"url": f"{page}?rest{run}={n}"}),
            "hub REST bg+wait": lambda run, n: hub.rest_wait({"url": f"{page}?wait{run}={n}"}),
            "hub MCP eager": lambda run, n: eager.mcp_call("fetch_url", {"url": f"{page}?eager{run}={n}"}),
            "hub MCP inline": lambda run, n: hub.mcp_call("text_statistics", {"text": f"Call {n} is short. Fine."}),
        }
        # Warm up: both prefork children of each worker (their tool pools start on first
        # use), both web processes' pools, the result consumer.
        for one in rows.values():
            timed(30, functools.partial(one, 0))

        results: dict[str, list[tuple[float, float, float]]] = {}
        parts: dict[str, list[list[float]]] = {}
        per_call: dict[str, list[float]] = {}
        for run in range(1, args.rounds + 1):
            for name, one in rows.items():
                before = counters(args.postgres) if run == args.rounds else None
                samples, clocks = timed(args.calls, functools.partial(one, run))
                if before is not None:
                    after = counters(args.postgres)
                    per_call[name] = [(a - b) / args.calls for a, b in zip(after, before, strict=True)]
                results.setdefault(name, []).append(figures(samples))
                if name in ("hub MCP bg", "hub REST bg+poll", "hub REST bg+wait"):
                    tag = ("mcp" if "MCP" in name else "wait" if "wait" in name else "rest") + str(run)
                    keyed = {str(n): c for n, c in enumerate(clocks)}
                    parts.setdefault(name, []).append(breakdown(hub.rows(tag, args.calls), keyed))
            direct = json.loads(
                subprocess.run(
                    [sys.executable, str(data / "direct_fetch.py"), page, str(args.calls)],
                    cwd=ROOT,
                    env=hub_env,
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            )
            results.setdefault("fetch direct", []).append(figures(direct))

        print(f"{args.calls} sequential calls per row, {args.rounds} rounds, median of the rounds; hub on "
              f"{'PostgreSQL' if args.postgres else 'SQLite'}, broker Redis; {os.cpu_count()} CPUs, not pinned")
        print(f"{'row':<18}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}{'x raw':>8}")
        base = statistics.median(f[0] for f in results["raw Celery"])
        for name, runs in results.items():
            p50, p99, mean = (statistics.median(f[i] for f in runs) for i in range(3))
            print(f"{name:<18}{p50:>9.2f}{p99:>9.2f}{mean:>9.2f}{p50 / base:>8.2f}")
        print("(x raw: p50 against raw Celery's; issue 10 asks hub MCP bg <= 1.5)")
        tool = statistics.median(f[0] for f in results["fetch direct"])
        for name in ("hub MCP bg", "hub REST bg+poll", "hub REST bg+wait"):
            path = statistics.median(f[0] for f in results[name]) - tool
            print(f"{name} less the tool's own time (fetch direct p50): {path:.2f} ms, {path / base:.2f}x raw Celery")
        print("where a background call's time goes, median ms (the rows' timestamps against the bench's clock):")
        print(f"{'row':<18}{'->created':>10}{'->started':>10}{'->finished':>11}{'->answered':>11}")
        for name, steps in parts.items():
            print(f"{name:<18}" + "".join(f"{statistics.median(r[i] for r in steps):>{w}.2f}"
                                          for i, w in enumerate((10, 10, 11, 11))))
        print("(sent->created: the door; created->started: commit, dispatch, broker, worker claim; "
              "started->finished: the run in the worker and its tool process; finished->answered: "
              "the result back to the door and the client)")

        print("per call, last round (Redis counters are server-wide: other clients of the server count too):")
        print(f"{'row':<18}{'Redis conns':>12}{'Redis cmds':>12}" + (f"{'PG conns':>10}" if args.postgres else ""))
        for name, (conns, commands, sessions) in per_call.items():
            print(f"{name:<18}{conns:>12.2f}{commands:>12.1f}" + (f"{sessions:>10.2f}" if args.postgres else ""))
        if args.postgres:
            print("(PG conns: connections to the bench's database that ended during the row, per call)")

        if args.profile:
            profile(args.profile, hub_worker, web, hub, page, args.calls)
    finally:
        stop_all(processes)
        flush_redis()
        if args.postgres:
            drop_postgres()


if __name__ == "__main__":
    main()
