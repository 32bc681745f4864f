"""Helpers for tests that start real processes: free ports, a Celery worker, a probe."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_probe(code: str, data: Path, **extra: str) -> str:
    """Run ``code`` in a fresh Python process of the embedded hub (no Redis, SQLite in
    ``data``) and return what it printed."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CELERY_BROKER_URL", "DATABASE_URL")}
    env.update(DJANGO_SETTINGS_MODULE="mcpsite.settings", DATA_DIR=str(data), **extra)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=True, timeout=300).stdout.strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_worker(env: dict[str, str], data: Path, extra_args: tuple[str, ...] = ()) -> subprocess.Popen:
    """`make worker`'s command (worker with beat) on the server's settings."""
    log_path = data / "worker.log"
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(
            [str(Path(sys.executable).parent / "celery"), "-A", "mcpsite", "worker", "-B", "--loglevel", "INFO",
             "--concurrency", "2", "--without-mingle", "--without-gossip", "--schedule", str(data / "beat"),
             *extra_args],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while " ready." not in log_path.read_text():
        if worker.poll() is not None or time.monotonic() > deadline:
            stop_group(worker)
            raise RuntimeError(f"the worker did not start:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.2)
    return worker


def stop_group(process: subprocess.Popen) -> None:
    for signum in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
