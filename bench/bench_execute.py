"""How much the execution path costs over calling a tool directly.

Runs the same text_statistics call N times in several ways in one process, on the same
machine, and prints absolute figures and ratios against the direct call:
  direct      Tool.run() with validated arguments (the baseline: the tool's own work)
  hop         the same call sent to a tool process of the pool and answered (the cost
              of isolation alone: pickling, the pipe, the other process)
  service     executions.services.execute_tool (resolve, validate, rate limit, record,
              run in a tool process with timeout, finish) with caching off
  in-process  execute_tool on a twin of the tool that runs on a thread of this process
              (runs_in_process = False, as remote tools do): the service without isolation
  cached      the same call answered from the cache

    .venv/bin/python bench/bench_execute.py [--calls 300]

Uses the embedded defaults (SQLite under a temporary DATA_DIR) unless DATABASE_URL is set.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="mcpsite-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mcpsite.settings")
os.environ.setdefault("TOOL_RATE_LIMIT", "0")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django

django.setup()

from django.core.management import call_command  # noqa: E402

TEXT = (
    "Readability formulas estimate how hard a text is to read. They count words, "
    "sentences and syllables, and weigh them. Short sentences with short words score best. "
) * 20


def timed(fn, calls: int) -> list[float]:
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    calls = parser.parse_args().calls

    call_command("migrate", verbosity=0)
    from accounts.models import User
    from executions import toolpool
    from executions.services import execute_tool
    from tools.base import ToolContext
    from tools.builtin.text_statistics import TextStatisticsTool
    from tools.models import ToolConfig
    from tools.registry import registry

    class InProcessTwin(TextStatisticsTool):
        name = "text_statistics_in_process"
        runs_in_process = False

    registry.register(InProcessTwin)
    user, _ = User.objects.get_or_create(username="bench")
    tool = registry.get("text_statistics")
    assert tool is not None
    args = {"text": TEXT}
    validated = tool.validate(args)
    pool = toolpool.get_pool()
    pool.prestart()

    def direct() -> None:
        tool.run(validated, ToolContext(user=user, execution_id="bench"))

    def hop() -> None:
        call = toolpool.call_for(tool=tool, arguments=validated, user=user, execution_id="bench", timeout=30)
        outcome = pool.run(call, timeout=30, on_progress=lambda *a: None, on_log=lambda *a: None,
                           client_request=None, tick=lambda: False)
        assert outcome.status == "success", outcome.error

    def service() -> None:
        execute_tool(user=user, tool_name="text_statistics", arguments=args, via="cli")

    def in_process() -> None:
        execute_tool(user=user, tool_name=InProcessTwin.name, arguments=args, via="cli")

    for name in ("text_statistics", InProcessTwin.name):
        ToolConfig.objects.update_or_create(tool_name=name, defaults={"cache_ttl_seconds": 0})
    for warm_up in (direct, hop, service, in_process):  # imports and caches
        warm_up()
    results: dict[str, list[float]] = {"direct": [], "hop": [], "service": [], "in-process": []}
    # Interleaved rounds, so that a slow spell of a shared machine hits every path alike.
    for _ in range(10):
        for key, fn in (("direct", direct), ("hop", hop), ("service", service), ("in-process", in_process)):
            results[key] += timed(fn, max(1, calls // 10))
    ToolConfig.objects.update_or_create(tool_name="text_statistics", defaults={"cache_ttl_seconds": 300})
    service()
    results["cached"] = timed(service, calls)

    base = statistics.median(results["direct"])
    print(f"{calls} calls each, text of {len(TEXT)} characters, database {django.db.connection.vendor}")
    print(f"{'path':10} {'median ms':>10} {'p95 ms':>8} {'ratio to direct':>16}")
    for name, samples in results.items():
        samples.sort()
        median = statistics.median(samples)
        p95 = samples[int(0.95 * (len(samples) - 1))]
        print(f"{name:10} {median * 1000:10.2f} {p95 * 1000:8.2f} {median / base:16.2f}")
    isolated, unisolated = statistics.median(results["service"]), statistics.median(results["in-process"])
    print(f"isolation costs {1000 * (isolated - unisolated):+.2f} ms a call ({isolated / unisolated:.2f}x in-process)")


if __name__ == "__main__":
    main()
