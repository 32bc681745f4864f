"""The Docker deployment: compose.yaml and the Dockerfile (no Docker daemon here: the
files are read as compose reads them, and the worker's health check runs for real)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
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
