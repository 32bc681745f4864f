"""How much the execution path costs over calling a tool directly.

Runs the same text_statistics call N times three ways in one process, on the same
machine, and prints absolute figures and ratios against the direct call:
  direct   Tool.run() with validated arguments (the baseline: the tool's own work)
  service  executions.services.execute_tool (resolve, validate, rate limit, record,
           run on a runner thread with timeout, finish) with caching off
  cached   the same call answered from the cache

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

import django  # noqa: E402

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
    from executions.services import execute_tool
    from tools.base import ToolContext
    from tools.models import ToolConfig
    from tools.registry import registry

    user, _ = User.objects.get_or_create(username="bench")
    tool = registry.get("text_statistics")
    args = {"text": TEXT}
    validated = tool.validate(args)

    def direct() -> None:
        tool.run(validated, ToolContext(user=user, execution_id="bench"))

    def service() -> None:
        execute_tool(user=user, tool_name="text_statistics", arguments=args, via="cli")

    ToolConfig.objects.update_or_create(tool_name="text_statistics", defaults={"cache_ttl_seconds": 0})
    direct(), service()  # warm up imports and caches
    results = {"direct": timed(direct, calls), "service": timed(service, calls)}
    ToolConfig.objects.filter(tool_name="text_statistics").update(cache_ttl_seconds=300)
    service()
    results["cached"] = timed(service, calls)

    base = statistics.median(results["direct"])
    print(f"{calls} calls each, text of {len(TEXT)} characters, database {django.db.connection.vendor}")
    print(f"{'path':8} {'median ms':>10} {'p95 ms':>8} {'ratio to direct':>16}")
    for name, samples in results.items():
        samples.sort()
        median = statistics.median(samples)
        p95 = samples[int(0.95 * (len(samples) - 1))]
        print(f"{name:8} {median * 1000:10.2f} {p95 * 1000:8.2f} {median / base:16.2f}")


if __name__ == "__main__":
    main()
