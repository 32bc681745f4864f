"""SIGTERM drains a web process (issue 16): daphne serving the hub, a real call in flight.

The call is fetch_url against a page on loopback that answers after a set delay, so the
call runs exactly as long as the test wants. Before the drain, daphne cancelled the open
request at once (the caller got no answer, even when the call then succeeded) and the
process exited only when the tool thread returned.
"""

from __future__ import annotations

import http.server
import signal
import threading
import time
from collections.abc import Iterator

import httpx2
import pytest

from tests.mcp_server.conftest import Hub, start_hub, stop_hub

pytestmark = [pytest.mark.fault, pytest.mark.slow]


class SlowPage(http.server.BaseHTTPRequestHandler):
    delay = 0.0

    def do_GET(self) -> None:
        time.sleep(self.delay)
        body = b"<html><body><p>A page that took its time.</p></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def slow_server(delay: float) -> http.server.ThreadingHTTPServer:
    handler = type("Page", (SlowPage,), {"delay": delay})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def draining_hub(request, tmp_path) -> Iterator[Hub]:
    """A hub whose SHUTDOWN_GRACE_SECONDS is the test's ``grace`` mark."""
    grace = request.node.get_closest_marker("grace").args[0]
    hub = start_hub(tmp_path, FETCH_URL_ALLOWED_NETWORKS="127.0.0.0/8", FETCH_URL_TIMEOUT="120",
                    SHUTDOWN_GRACE_SECONDS=str(grace))
    try:
        yield hub
    finally:
        stop_hub(hub)


def call_in_background(hub: Hub, url: str) -> tuple[threading.Thread, dict]:
    answer: dict = {}

    def call() -> None:
        try:
            answer["response"] = httpx2.post(
                f"{hub.base}/api/v1/tools/fetch_url/execute/", json={"arguments": {"url": url}},
                headers={"Authorization": f"Bearer {hub.tokens['alice']}"}, timeout=120,
            )
        except httpx2.HTTPError as exc:
            answer["error"] = exc

    thread = threading.Thread(target=call)
    thread.start()
    return thread, answer


def wait_running(hub: Hub) -> None:
    for _ in range(100):
        rows = hub.api("/api/v1/executions/?tool=fetch_url")["results"]
        if rows and rows[0]["status"] == "running":
            return
        time.sleep(0.1)
    raise AssertionError("the call never started")


# The first call also starts the tool processes (seconds on a loaded machine): a grace
# that is ample for the page's 1.5 s.
@pytest.mark.grace(60)
def test_a_call_that_ends_within_the_grace_is_answered_before_the_process_exits(draining_hub):
    page = slow_server(delay=1.5)
    thread, answer = call_in_background(draining_hub, f"http://127.0.0.1:{page.server_port}/")
    wait_running(draining_hub)
    draining_hub.process.send_signal(signal.SIGTERM)
    thread.join(60)
    assert "error" not in answer, answer.get("error")
    body = answer["response"].json()
    assert body["status"] == "success" and "took its time" in body["result"]["text"]
    assert draining_hub.process.wait(timeout=30) == 0
    page.shutdown()


@pytest.mark.grace(3)
def test_past_the_grace_the_call_is_cancelled_answered_and_the_process_exits(draining_hub):
    page = slow_server(delay=90)
    thread, answer = call_in_background(draining_hub, f"http://127.0.0.1:{page.server_port}/")
    wait_running(draining_hub)
    draining_hub.process.send_signal(signal.SIGTERM)

    # While it drains, it takes no new work and says so to the load balancer.
    time.sleep(0.5)
    refused = httpx2.post(
        f"{draining_hub.base}/api/v1/tools/text_statistics/execute/", json={"arguments": {"text": "Hi."}},
        headers={"Authorization": f"Bearer {draining_hub.tokens['alice']}"}, timeout=10,
    )
    assert refused.status_code == 503 and refused.json()["code"] == "shutting_down"
    assert refused.headers["Retry-After"]
    ready = httpx2.get(f"{draining_hub.base}/readyz", timeout=10)
    assert ready.status_code == 503 and ready.json()["status"] == "shutting_down"

    # The grace is 3 s and the page answers after 90: the call is cancelled and answered,
    # and the process exits long before the page would have answered.
    thread.join(60)
    assert not thread.is_alive() and "error" not in answer, answer.get("error")
    body = answer["response"].json()
    assert body["status"] == "cancelled" and "shut down" in body["error"]
    assert draining_hub.process.wait(timeout=30) == 0
    page.shutdown()
