"""The Docker deployment: compose.yaml and the Dockerfile (no Docker daemon here: the
files are read as compose reads them, and the worker's health check runs for real)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import uuid
from pathlib import Path

import pytest
import yaml

from tests.processes import start_worker, stop_group

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict:
    # PyYAML resolves the `<<: *hub` merge keys as compose does.
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def dockerfile_cmd() -> str:
    [cmd] = re.findall(r"^CMD (.+)$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    return cmd


def test_the_compose_file_has_the_four_services_built_from_one_image():
    services = compose()["services"]
    assert set(services) == {"web", "worker", "postgres", "redis"}
    assert services["web"]["build"] == services["worker"]["build"] == "."
    for name in ("web", "worker"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://") and env["REDIS_URL"].startswith("redis://")
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_the_worker_has_a_health_check_of_its_own():
    worker = compose()["services"]["worker"]
    test = worker["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL" and "inspect ping" in test[1] and "8000" not in test[1]
    # The web service keeps the image's HTTP check on /healthz.
    assert "healthcheck" not in compose()["services"]["web"]
    assert "/healthz" in (ROOT / "Dockerfile").read_text()


def test_the_web_service_creates_the_first_admin_from_the_environment():
    env = compose()["services"]["web"]["environment"]
    assert env["ADMIN_USERNAME"] == "${ADMIN_USERNAME:-admin}"
    assert env["ADMIN_PASSWORD"] == "${ADMIN_PASSWORD:-}"
    assert "SECRET_KEY" in env  # the shared settings are merged in, not replaced
    assert "ADMIN_PASSWORD" not in compose()["services"]["worker"]["environment"]
    cmd = dockerfile_cmd()
    assert cmd.index("migrate") < cmd.index("ensure_admin") < cmd.index("daphne")


@pytest.mark.slow
@pytest.mark.services
def test_the_worker_health_check_passes_for_a_running_worker_and_fails_without_one(tmp_path):
    env = dict(os.environ)
    # A Redis database of its own, so that no other test's worker answers the ping.
    env["REDIS_URL"] = urllib.parse.urlsplit(os.environ["REDIS_URL"])._replace(path="/13").geturl()
    env.pop("CELERY_BROKER_URL", None)
    # In a container $HOSTNAME is the worker's host name; here a name of this test's own,
    # so that no other worker on this machine answers for it.
    hostname = f"health-{uuid.uuid4().hex[:8]}"
    env.update(DATA_DIR=str(tmp_path), HOSTNAME=hostname)
    [_, command] = compose()["services"]["worker"]["healthcheck"]["test"]
    command = command.replace("$$", "$").replace("celery ", f"{Path(sys.executable).parent / 'celery'} ", 1)

    def check() -> int:
        return subprocess.run(["sh", "-c", command], cwd=ROOT, env=env, capture_output=True, timeout=60).returncode

    assert check() != 0  # no worker yet
    worker = start_worker(env, tmp_path, ("--hostname", f"celery@{hostname}"))
    try:
        assert check() == 0
    finally:
        stop_group(worker)


def test_the_web_service_stops_later_than_its_drain_takes():
    from django.conf import settings

    period = compose()["services"]["web"]["stop_grace_period"]
    assert period.endswith("s") and float(period[:-1]) >= settings.SHUTDOWN_GRACE_SECONDS + 10


@pytest.mark.slow
def test_sigterm_to_the_images_command_reaches_daphne(tmp_path):
    """`docker stop` signals the container's first process: the shell of CMD. Without
    `exec` the shell died and daphne kept serving until the stop timeout killed it."""
    from tests.processes import free_port

    port = free_port()
    cmd = json.loads(dockerfile_cmd())[2]
    venv = Path(sys.executable).parent
    cmd = (cmd.replace("python ", f"{sys.executable} ").replace("exec daphne", f"exec {venv / 'daphne'}")
           .replace("0.0.0.0", "127.0.0.1").replace("-p 8000", f"-p {port}"))
    if "exec " not in cmd:
        cmd = cmd.replace("daphne ", f"{venv / 'daphne'} ")
    env = {**os.environ, "DATA_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
           "ADMIN_PASSWORD": "container-test", "LOG_FORMAT": "plain"}
    env.pop("REDIS_URL", None)
    shell = subprocess.Popen(["sh", "-c", cmd], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError("the container command never served")
        shell.send_signal(signal.SIGTERM)
        shell.wait(timeout=30)
        time.sleep(0.5)
        with pytest.raises(OSError):  # nothing serves any more
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(shell.pid, signal.SIGKILL)
