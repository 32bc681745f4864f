from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.apps import apps
from django.db import OperationalError, connection

from executions.models import ToolExecution
from tests.processes import free_port
from tools.federation.models import RemoteServer
from tools.federation.services import remote_server_create, remote_server_delete, remote_server_sync

SERVERS = Path(__file__).parent / "servers"
PYTHON_SERVER = SERVERS / "python_server.py"
ROOT = Path(__file__).resolve().parents[2]
NODE = ROOT / "node_modules" / ".bin" / "node"
EVERYTHING = ROOT / "node_modules" / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"


@pytest.fixture(autouse=True)
def _federation_clean(settings, transactional_db):
    # After the database fixture, so that background jobs end before the tables are flushed.
    # Background checks are started by the tests that want them.
    settings.FEDERATION_HEALTH_INTERVAL = 0
    settings.FEDERATION_RELOAD_INTERVAL = 0
    settings.FEDERATION_BACKOFF_MAX = 0.2
    yield
    # Deleting the rows takes their tools out of the registry and closes their pools.
    for server in RemoteServer.objects.all():
        remote_server_delete(server=server)
    # A fresh hub: the next test starts with nothing loaded, pooled or scheduled.
    apps.get_app_config("federation").renew_hub()


def stdio_command(mode: str = "stdio") -> str:
    return f"{sys.executable} {PYTHON_SERVER} {mode}"


def add_stdio(name: str = "py", mode: str = "stdio", **kwargs: object) -> RemoteServer:
    server = remote_server_create(name=name, command=stdio_command(mode), **kwargs)
    return remote_server_sync(server=server)


@dataclass
class HttpServer:
    port: int
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(PYTHON_SERVER), "http", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the test HTTP server exited with {self.process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the test HTTP server did not start")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    server = HttpServer(port=free_port())
    server.start()
    try:
        yield server
    finally:
        server.kill()


def wait_for(predicate, timeout: float = 15.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except OperationalError:
            # The in-memory test database locks a table while a background job writes it
            # (shared-cache SQLite does not wait); look again.
            pass
        time.sleep(step)
    return predicate()


def wait_for_remote_call(tool_name: str) -> None:
    """Wait until the remote server runs a call of ``tool_name``: its first progress (the test
    servers' ``sleep`` reports one as it starts) is on the execution's row."""
    assert wait_for(
        lambda: ToolExecution.objects.filter(tool_name=tool_name, progress__isnull=False).exists()
    ), f"no call of {tool_name} started"


def set_once_started(event: threading.Event, tool_name: str) -> threading.Thread:
    """Set ``event`` (a call's cancel event) once the remote server runs a call of ``tool_name``."""

    def wait_then_set() -> None:
        wait_for_remote_call(tool_name)
        event.set()

    return in_thread(wait_then_set)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def in_thread(target: Callable[[], object]) -> threading.Thread:
    """Start ``target`` on its own thread, which closes its database connection at the end.

    As the hub's own threads do: a connection left to the garbage collector stays open
    and keeps PostgreSQL from dropping the test database.
    """

    def run() -> None:
        try:
            target()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread
