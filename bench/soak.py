"""A soak run: mixed traffic at a set rate against one hub for a long time, so that leaks,
slow growth and rare errors show.

Starts daphne serving mcpsite on a free port with a fresh DATA_DIR (migrated, a user and
an API token made with ``create_token``): SQLite and in-process defaults unless
--database-url / --redis-url are given (then DATABASE_URL / REDIS_URL; with --worker
also a Celery worker with beat, as ``make worker``). Then sends, open-loop at --rate
requests per second in all for --duration seconds (10 minutes by default), a mix of:
  REST execute of text_statistics, calculate and detect_language; stateless 2026-07-28
  MCP tools/call and tools/list; the executions list; /healthz; and bad requests (an
  unknown tool and invalid arguments, over REST and MCP) that must answer 4xx or a
  JSON-RPC / tool error, never 5xx.
Open-loop: a request leaves on its schedule whatever the earlier ones are doing; at
--max-outstanding requests in flight the next one is dropped (counted) instead.

Every --interval seconds one line for that window: requests sent, ok, bad requests
answered as expected, 5xx (of which 503 busy with Retry-After: the tool pool's
backpressure), wrong answers, transport errors (of which timeouts), drops, p50/p95/p99
latency, the RSS of the web process with its descendants (the tool processes) and the
growth of the execution rows. At the end: totals, overall and per-kind percentiles, RSS
at the start, after the first window (warm-up) and at the end. Exits 1 on any 5xx
(--allow-busy tolerates 503 busy), wrong answer or transport error, or when RSS grew
more than --max-rss-growth percent from the end of the first window to the end.

    .venv/bin/python bench/soak.py [--duration 600] [--rate 20] [--interval 30]
        [--database-url postgres://...] [--redis-url redis://... [--worker]]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MODERN = "2026-07-28"
TEXT = "Short sentences help. Long ones, with clauses and asides, rarely do. " * 20
FRENCH = "Ceci est une phrase en français, écrite pour voir si la langue est bien reconnue."
META = {"io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientInfo": {"name": "mcpsite-soak", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {}}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- Memory ---------------------------------------------------------------------------------

def rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (the tool processes), in MB."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        try:
            root = psutil.Process(pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0.0
        total = 0
        for process in processes:
            with contextlib.suppress(psutil.Error):
                total += process.memory_info().rss
        return total / 2**20
    children: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:  # "pid (comm) state ppid ...", comm may hold spaces and parentheses
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children[ppid].append(int(entry.name))
    total_kb, todo, seen = 0, [pid], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
        todo += children.get(current, [])
    return total_kb / 1024


# --- The mix --------------------------------------------------------------------------------

def mcp_body(n: int, method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": n, "method": method, "params": {**params, "_meta": META}}


def mcp_message(response: Any, n: int) -> dict[str, Any]:
    """The JSON-RPC answer to request ``n``, from a JSON body or an SSE stream."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        for line in response.text.splitlines():
            if line.startswith("data:") and line[5:].strip():
                message = json.loads(line[5:])
                if message.get("id") == n:
                    return message
        raise ValueError("no answer in the event stream")
    return response.json()


def rest_ok(response: Any, n: int) -> str | None:
    if response.status_code != 200:
        return f"status {response.status_code}"
    return None


def rest_refused(*statuses: int) -> Callable[[Any, int], str | None]:
    def check(response: Any, n: int) -> str | None:
        return None if response.status_code in statuses else f"status {response.status_code}, expected {statuses}"
    return check


def mcp_result(response: Any, n: int) -> str | None:
    if response.status_code != 200:
        return f"status {response.status_code}"
    message = mcp_message(response, n)
    if "error" in message:
        return f"JSON-RPC error {message['error']}"
    result = message.get("result") or {}
    if result.get("isError"):
        return f"tool error {str(result.get('content'))[:200]}"
    if "tools" in result and not result["tools"]:
        return "no tools listed"
    return None


def mcp_refused(response: Any, n: int) -> str | None:
    if 400 <= response.status_code < 500:
        return None
    if response.status_code != 200:
        return f"status {response.status_code}"
    message = mcp_message(response, n)
    if "error" in message or (message.get("result") or {}).get("isError"):
        return None
    return f"succeeded: {str(message)[:200]}"


@dataclass
class Kind:
    name: str
    weight: float
    bad: bool  # a deliberately bad request: success is a wrong answer
    build: Callable[[int], tuple[str, str, Any, dict[str, str]]]  # n -> method, path, body, headers
    check: Callable[[Any, int], str | None]  # None when the answer is the expected one


def rest(name: str, arguments: Callable[[int], dict]) -> Callable[[int], tuple[str, str, Any, dict[str, str]]]:
    return lambda n: ("POST", f"/api/v1/tools/{name}/execute/", {"arguments": arguments(n)}, {})


def mcp(method: str, params: Callable[[int], dict]) -> Callable[[int], tuple[str, str, Any, dict[str, str]]]:
    def build(n: int) -> tuple[str, str, Any, dict[str, str]]:
        body = mcp_body(n, method, params(n))
        headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": MODERN,
                   "Mcp-Method": method}
        if "name" in body["params"]:
            headers["Mcp-Name"] = body["params"]["name"]
        return "POST", "/mcp", body, headers
    return build


def get(path: str) -> Callable[[int], tuple[str, str, Any, dict[str, str]]]:
    return lambda n: ("GET", path, None, {})


KINDS = [
    Kind("rest_text_statistics", 15, False, rest("text_statistics", lambda n: {"text": f"{TEXT} {n}"}), rest_ok),
    Kind("rest_calculate", 10, False, rest("calculate", lambda n: {"expression": f"({n} + 3) * 7 / 2"}), rest_ok),
    Kind("rest_detect_language", 10, False, rest("detect_language", lambda n: {"text": f"{FRENCH} {n}"}), rest_ok),
    Kind("mcp_tools_call", 20, False,
         mcp("tools/call", lambda n: {"name": "text_statistics", "arguments": {"text": f"{TEXT} {n}"}}), mcp_result),
    Kind("mcp_tools_list", 5, False, mcp("tools/list", lambda n: {}), mcp_result),
    Kind("executions_list", 10, False, get("/api/v1/executions/?limit=20"), rest_ok),
    Kind("healthz", 10, False, get("/healthz"), rest_ok),
    Kind("rest_unknown_tool", 4, True, rest("no_such_tool", lambda n: {}), rest_refused(404)),
    Kind("rest_invalid_arguments", 6, True, rest("calculate", lambda n: {"expression": n}), rest_refused(400)),
    Kind("mcp_unknown_tool", 5, True, mcp("tools/call", lambda n: {"name": "no_such_tool", "arguments": {}}),
         mcp_refused),
    Kind("mcp_invalid_arguments", 5, True,
         mcp("tools/call", lambda n: {"name": "text_statistics", "arguments": {"text": n}}), mcp_refused),
]


def parse_mix(spec: str) -> list[Kind]:
    """``name=weight,...`` over the default weights; weight 0 leaves a kind out."""
    weights = {kind.name: kind.weight for kind in KINDS}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, weight = item.partition("=")
        if name not in weights:
            raise SystemExit(f"--mix: unknown kind {name!r}; kinds: {', '.join(weights)}")
        weights[name] = float(weight)
    kinds = [Kind(k.name, weights[k.name], k.bad, k.build, k.check) for k in KINDS if weights[k.name] > 0]
    if not kinds:
        raise SystemExit("--mix leaves nothing to send")
    return kinds


# --- Counting -------------------------------------------------------------------------------

@dataclass
class Tally:
    sent: int = 0
    ok: int = 0  # a good request that succeeded
    refused: int = 0  # a bad request answered with the expected 4xx / error
    server_errors: int = 0  # any 5xx
    busy: int = 0  # of which 503 with Retry-After (the tool pool's backpressure)
    wrong: int = 0  # any other answer than the expected one (not 5xx)
    transport: int = 0  # no answer: connection errors and timeouts
    timeouts: int = 0  # of which timeouts
    dropped: int = 0  # not sent: --max-outstanding requests were in flight
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


HEADER = (f"{'elapsed':>8}{'sent':>7}{'ok':>7}{'4xx ok':>7}{'5xx':>5}{'busy':>5}{'wrong':>6}{'err':>5}{'t/o':>5}"
          f"{'drop':>5}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'RSS MB':>9}{'rows+':>7}")


def report(elapsed: float, t: Tally, rss: float, rows: int | None) -> None:
    ms = [percentile(t.latencies, q) * 1000 for q in (50, 95, 99)]
    print(f"{elapsed:>8.0f}{t.sent:>7}{t.ok:>7}{t.refused:>7}{t.server_errors:>5}{t.busy:>5}{t.wrong:>6}"
          f"{t.transport:>5}{t.timeouts:>5}{t.dropped:>5}{ms[0]:>9.1f}{ms[1]:>9.1f}{ms[2]:>9.1f}{rss:>9.1f}"
          f"{'' if rows is None else rows:>7}", flush=True)
    for failure in t.failures[:5]:
        print(f"    {failure}", flush=True)
    if len(t.failures) > 5:
        print(f"    ... and {len(t.failures) - 5} more", flush=True)


@dataclass
class Run:
    total: Tally
    per_kind: dict[str, list[float]]
    per_kind_failed: Counter
    rss_start: float
    rss: list[float]  # at the end of each window
    rows: int | None


async def warm_up(http: Any, base: str, kinds: list[Kind], patience: float) -> None:
    """Each good kind once, one at a time, until it succeeds: the tool processes start and
    import their libraries on the first calls (seconds), which is not what a soak measures."""
    started = time.monotonic()
    for kind in kinds:
        if kind.bad:
            continue
        while True:
            method, path, body, headers = kind.build(0)
            try:
                response = await http.request(method, base + path, json=body, headers=headers)
                problem = None if response.status_code < 500 else f"status {response.status_code}"
                problem = problem or kind.check(response, 0)
            except Exception as exc:
                problem = f"{type(exc).__name__} {exc}"
            if not problem:
                break
            if time.monotonic() - started > max(60.0, patience):
                raise SystemExit(f"warm-up: {kind.name} still fails: {problem}")
            await asyncio.sleep(0.5)
    print(f"warm-up: {time.monotonic() - started:.1f} s (each kind once, the tool processes started)", flush=True)


async def drive(base: str, token: str, args: argparse.Namespace, kinds: list[Kind], pid: int,
                alive: Callable[[], bool]) -> Run:
    import httpx2

    rng = random.Random(args.seed)
    weights = [kind.weight for kind in kinds]
    total, window = Tally(), Tally()
    per_kind: dict[str, list[float]] = defaultdict(list)
    per_kind_failed: Counter = Counter()
    rows = {"first": None, "last": None}
    in_flight = 0
    tasks: set[asyncio.Task] = set()

    def count(attribute: str, failure: str | None = None) -> None:
        for tally in (window, total):
            setattr(tally, attribute, getattr(tally, attribute) + 1)
            if failure:
                tally.failures.append(failure)

    async def one(http: Any, kind: Kind, n: int) -> None:
        nonlocal in_flight
        method, path, body, headers = kind.build(n)
        started = time.perf_counter()
        try:
            response = await http.request(method, base + path, json=body, headers=headers)
            elapsed = time.perf_counter() - started
            window.latencies.append(elapsed)
            total.latencies.append(elapsed)
            per_kind[kind.name].append(elapsed)
            if response.status_code >= 500:
                busy = response.status_code == 503 and "retry-after" in response.headers
                count("server_errors", f"{kind.name}: {response.status_code} {response.text[:200]}")
                if busy:
                    count("busy")
                per_kind_failed[kind.name] += 1
                return
            try:
                problem = kind.check(response, n)
            except ValueError as exc:  # a body that is not the JSON it should be
                problem = f"unreadable answer ({exc}): {response.text[:200]}"
            if problem:
                count("wrong", f"{kind.name}: {problem}")
                per_kind_failed[kind.name] += 1
            else:
                count("refused" if kind.bad else "ok")
                if kind.name == "executions_list":
                    rows["last"] = response.json().get("count")
                    if rows["first"] is None:
                        rows["first"] = rows["last"]
        except httpx2.HTTPError as exc:
            count("transport", f"{kind.name}: {type(exc).__name__} {exc}")
            if isinstance(exc, httpx2.TimeoutException):
                count("timeouts")
            per_kind_failed[kind.name] += 1
        finally:
            in_flight -= 1

    def window_rows() -> int | None:
        if rows["last"] is None or rows["first"] is None:
            return None
        return rows["last"] - rows["first"]

    rss_start = rss_mb(pid)  # before any tool call: the tool processes start on the first request
    rss: list[float] = []
    limits = httpx2.Limits(max_connections=args.max_outstanding, max_keepalive_connections=args.max_outstanding)
    async with httpx2.AsyncClient(timeout=args.timeout, limits=limits,
                                  headers={"Authorization": f"Bearer {token}"}) as http:
        await warm_up(http, base, kinds, args.timeout)
        print(HEADER, flush=True)
        start = time.monotonic()
        next_report = start + args.interval
        n = 0
        while True:
            due = start + n / args.rate
            if due >= start + args.duration:
                break
            if due > time.monotonic():
                await asyncio.sleep(due - time.monotonic())
            kind = rng.choices(kinds, weights=weights)[0]
            if in_flight >= args.max_outstanding:
                count("dropped")
            else:
                in_flight += 1
                count("sent")
                task = asyncio.create_task(one(http, kind, n))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            n += 1
            if time.monotonic() >= next_report:
                rss.append(rss_mb(pid))
                report(time.monotonic() - start, window, rss[-1], window_rows())
                window = Tally()
                next_report += args.interval
                if not alive():
                    print("the hub exited", flush=True)
                    count("transport", "the hub exited")
                    break
        if tasks:
            await asyncio.wait(set(tasks), timeout=args.timeout + 5)
    rss.append(rss_mb(pid))
    if window.sent or window.dropped or window.latencies:
        report(time.monotonic() - start, window, rss[-1], window_rows())
    return Run(total, dict(per_kind), per_kind_failed, rss_start, rss, window_rows())


# --- Processes ------------------------------------------------------------------------------

def start_worker(env: dict[str, str], data: Path) -> subprocess.Popen:
    """`make worker`'s command (worker with beat), as tests/processes.py starts it."""
    log_path = data / "worker.log"
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(
            [str(Path(sys.executable).parent / "celery"), "-A", "mcpsite", "worker", "-B", "--loglevel", "INFO",
             "--concurrency", "2", "--without-mingle", "--without-gossip", "--schedule", str(data / "beat")],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while " ready." not in log_path.read_text():
        if worker.poll() is not None or time.monotonic() > deadline:
            stop(worker)
            raise SystemExit(f"the worker did not start:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.2)
    return worker


def stop(process: subprocess.Popen, grace: float = 30) -> None:
    """SIGTERM to the process, then SIGKILL to its whole group (it leads one of its own)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # what is left: the process or a stuck child
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


def wait_ready(base: str, hub: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if hub.poll() is not None:
            raise SystemExit(f"the hub exited with {hub.returncode}:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=2).read()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the hub did not start:\n{log.read_text()[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600, help="seconds of traffic (default 600)")
    parser.add_argument("--rate", type=float, default=20, help="requests per second, all kinds together (default 20)")
    parser.add_argument("--interval", type=float, default=30, help="seconds per reported window (default 30)")
    parser.add_argument(
        "--max-outstanding", type=int, default=200, help="requests in flight before drops (default 200)"
    )
    parser.add_argument("--timeout", type=float, default=30, help="seconds per request (default 30)")
    parser.add_argument("--max-rss-growth", type=float, default=50,
                        help="percent, from the end of the first window to the end (default 50)")
    parser.add_argument("--allow-busy", action="store_true", help="do not fail on 503 busy with Retry-After")
    parser.add_argument("--mix", default="", help="weights over the defaults, e.g. 'healthz=0,mcp_tools_call=40'; "
                                                  f"kinds: {', '.join(kind.name for kind in KINDS)}")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default="", help="DATABASE_URL for the hub (default: SQLite in DATA_DIR)")
    parser.add_argument("--redis-url", default="", help="REDIS_URL for the hub (default: none, in-process)")
    parser.add_argument("--worker", action="store_true", help="also run a Celery worker (needs --redis-url)")
    args = parser.parse_args()
    if args.worker and not args.redis_url:
        parser.error("--worker needs --redis-url (without a broker, Celery runs eagerly in the hub)")
    kinds = parse_mix(args.mix)

    data = Path(tempfile.mkdtemp(prefix="mcpsite-soak-"))
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CELERY_BROKER_URL", "DATABASE_URL")}
    # No rate limit and no result cache: every request does the work.
    env.update(DATA_DIR=str(data), LOG_LEVEL="WARNING", TOOL_RATE_LIMIT="0", TOOL_CACHE_TTL="0")
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True)
    token = subprocess.run([*manage, "create_token", f"soak-{data.name}", "--create-user"], cwd=ROOT, env=env,
                           check=True, capture_output=True, text=True).stdout.strip()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = data / "daphne.log"
    processes: list[subprocess.Popen] = []
    try:
        if args.worker:
            processes.append(start_worker(env, data))
        with open(log_path, "wb") as log:
            hub = subprocess.Popen([str(Path(sys.executable).parent / "daphne"), "-b", "127.0.0.1", "-p", str(port),
                                    "mcpsite.asgi:application"], cwd=ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        processes.insert(0, hub)
        wait_ready(base, hub, log_path)
        print(f"soak: {args.duration:g} s at {args.rate:g} req/s against {base} "
              f"({'DATABASE_URL' if args.database_url else 'SQLite'}, {'REDIS_URL' if args.redis_url else 'no Redis'}"
              f"{', a worker' if args.worker else ''}; logs in {data})", flush=True)
        run = asyncio.run(drive(base, token, args, kinds, hub.pid, lambda: hub.poll() is None))
    finally:
        for process in processes:
            stop(process)

    total = run.total
    warm, end = (run.rss[0], run.rss[-1]) if run.rss else (0.0, 0.0)
    growth_mb = end - warm
    growth = growth_mb / warm * 100 if warm else 0.0
    ms = [percentile(total.latencies, q) * 1000 for q in (50, 95, 99)]
    print()
    print(f"total: sent {total.sent}, ok {total.ok}, bad requests refused as expected {total.refused}, "
          f"5xx {total.server_errors} (503 busy {total.busy}), wrong answers {total.wrong}, "
          f"transport errors {total.transport} (timeouts {total.timeouts}), dropped {total.dropped}")
    print(
        f"latency ms: p50 {ms[0]:.1f}, p95 {ms[1]:.1f}, p99 {ms[2]:.1f}, "
        f"max {max(total.latencies, default=0) * 1000:.1f}"
    )
    for name, samples in sorted(run.per_kind.items()):
        print(f"  {name:<24}{len(samples):>6} p50 {percentile(samples, 50) * 1000:>7.1f}  "
              f"p95 {percentile(samples, 95) * 1000:>7.1f}  p99 {percentile(samples, 99) * 1000:>7.1f}"
              f"{f'  failed {run.per_kind_failed[name]}' if run.per_kind_failed[name] else ''}")
    print(f"RSS MB: start {run.rss_start:.1f}, after warm-up (first window) {warm:.1f}, end {end:.1f}; "
          f"growth {growth_mb:+.1f} MB ({growth:+.1f}%, limit {args.max_rss_growth:g}%)")
    if run.rows is not None:
        print(f"execution rows: +{run.rows} during the run")

    reasons = []
    if total.server_errors - (total.busy if args.allow_busy else 0):
        reasons.append("5xx answers")
    if total.wrong:
        reasons.append("wrong answers")
    if total.transport:
        reasons.append("transport errors")
    if growth > args.max_rss_growth:
        reasons.append("RSS growth")
    if reasons:
        print(f"FAILED: {', '.join(reasons)} (hub log: {log_path})")
        for line in log_path.read_text(errors="replace").splitlines()[-20:]:
            print(f"    {line}")
        sys.exit(1)
    print("OK")


if __name__ == "__main__":
    main()
