"""Starting and stopping real `celery worker` processes for the `services` tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    """The test database (test_<name>) as a URL, so the worker sees the test's rows."""
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class Worker:
    def __init__(self, tmp_path: Path, *, beat: bool = False, extra_env: dict[str, str] | None = None) -> None:
        self.name = f"test-{uuid.uuid4().hex[:8]}@%h"
        self.log = tmp_path / f"worker-{uuid.uuid4().hex[:6]}.log"
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "DATA_DIR": str(tmp_path),
            "EXECUTION_HEARTBEAT_SECONDS": "0.3",
            "EXECUTION_LOST_AFTER": "2",
            "EXECUTION_REAPER_INTERVAL": "0.5",
            "LOG_FORMAT": "plain",
            **(extra_env or {}),
        }
        args = [
            sys.executable, "-m", "tests.executions.worker_main", "worker", "--loglevel", "INFO",
            "--concurrency", "2", "--without-mingle", "--without-gossip", "-n", self.name,
        ]
        if beat:
            args += ["-B", "--schedule", str(tmp_path / "beat-schedule")]
        with open(self.log, "wb") as log:
            # A process group of its own: the test can SIGKILL the worker and its children at once.
            self.process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60) -> None:
        from mcpsite.celery import app

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the worker exited:\n{self.log.read_text()[-3000:]}")
            replies = app.control.ping(timeout=0.5)
            if any(name.startswith(self.name.split("@")[0]) for reply in replies for name in reply):
                return
        self.kill()
        raise RuntimeError(f"the worker did not answer within {timeout} s:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes: nothing gets to clean up."""
        self._signal_group(signal.SIGKILL)
        self.process.wait(timeout=10)
        self._wait_group_gone()

    def stop(self) -> None:
        self._signal_group(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=15)
        # Pool processes or beat may outlive the main process by a moment; none may stay
        # connected to the test database when it is dropped.
        self._signal_group(signal.SIGKILL)
        self._wait_group_gone()

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    def _wait_group_gone(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


def wait_for(predicate, timeout: float = 30, interval: float = 0.1):
    """Poll until ``predicate()`` is truthy; return its value, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s")
        time.sleep(interval)
