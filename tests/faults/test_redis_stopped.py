"""A running hub whose Redis is stopped with SIGSTOP (issue 16): the hub (daphne) uses a
redis-server the test starts on a port of its own for its cache, rate limiter, channel
layer and broker; the test freezes and thaws that process.

Inline calls keep succeeding (uncached) while Redis hangs, /readyz names it degraded
within its timeout, /healthz answers throughout, and all is well again after SIGCONT.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Iterator

import httpx2
import pytest

from tests.mcp_server.conftest import Hub, start_hub, stop_hub
from tests.processes import free_port

pytestmark = [
    pytest.mark.fault, pytest.mark.slow,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]


@pytest.fixture
def own_redis(tmp_path) -> Iterator[tuple[subprocess.Popen, str]]:
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        if (
            subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True).stdout.strip()
            == "PONG"
        ):
            break
        time.sleep(0.1)
    try:
        yield process, f"redis://127.0.0.1:{port}/0"
    finally:
        process.send_signal(signal.SIGCONT)
        process.kill()
        process.wait()


@pytest.fixture
def hub_on_redis(tmp_path, own_redis) -> Iterator[tuple[Hub, subprocess.Popen]]:
    process, url = own_redis
    hub = start_hub(tmp_path / "hub", REDIS_URL=url)
    try:
        yield hub, process
    finally:
        process.send_signal(signal.SIGCONT)  # so that the hub can stop cleanly
        stop_hub(hub)


def test_inline_calls_succeed_and_readyz_says_degraded_while_redis_hangs(hub_on_redis):
    hub, redis = hub_on_redis
    headers = {"Authorization": f"Bearer {hub.tokens['alice']}"}

    def execute(text: str, timeout: float = 30) -> httpx2.Response:
        return httpx2.post(f"{hub.base}/api/v1/tools/text_statistics/execute/", json={"arguments": {"text": text}},
                           headers=headers, timeout=timeout)

    assert execute("Redis is up.").json()["status"] == "success"
    assert httpx2.get(f"{hub.base}/readyz", timeout=5).json()["status"] == "ok"

    redis.send_signal(signal.SIGSTOP)
    # /readyz answers within its timeout (READYZ_TIMEOUT, 0.8 s), not after Redis's.
    ready = httpx2.get(f"{hub.base}/readyz", timeout=3)
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "degraded" and body["checks"]["cache"]["status"] == "degraded"
    assert body["checks"]["database"]["status"] == "ok"

    assert execute("The first call pays the timeouts and opens the breakers.").status_code == 200
    for n in range(10):
        # Not a speed test: a bound far above a call's cost and far below what a call
        # paid when the event publish waited on the channel layer's 15 s read timeout.
        answer = execute(f"Redis hangs, call {n}.", timeout=5)
        assert answer.status_code == 200, answer.text[:300]
        assert answer.json()["status"] == "success" and not answer.json()["cache_hit"]
        assert httpx2.get(f"{hub.base}/healthz", timeout=5).status_code == 200

    redis.send_signal(signal.SIGCONT)
    assert execute("Redis is back.").json()["status"] == "success"
    for _ in range(50):  # the breaker probes Redis again after REDIS_BREAKER_SECONDS
        if httpx2.get(f"{hub.base}/readyz", timeout=5).json()["status"] == "ok":
            break
        time.sleep(0.2)
    else:
        raise AssertionError("/readyz never came back to ok")
