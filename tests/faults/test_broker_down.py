"""The broker down at dispatch (issue 16): a background call is answered at once with a
clear refusal (REST 503 queue_unavailable with Retry-After, MCP an isError result) and its
row is ended as an error, never left pending; inline tools and /healthz carry on.

A real hub process whose Celery broker is a Redis port nobody listens on (refused)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx2
import pytest

from tests.mcp_server.conftest import Hub, start_hub, stop_hub
from tests.mcp_server.test_http import client

pytestmark = [pytest.mark.fault, pytest.mark.slow]

TEXT = "Gardens change with the seasons. In spring the first shoots appear."


# The channel layer and cache on the machine's Redis (a broker needs a shared layer), the
# broker on a port nobody listens on: only the queue is down.
LAYER_REDIS = "redis://127.0.0.1:6379/13"


@pytest.fixture(scope="module")
def hub(tmp_path_factory) -> Iterator[Hub]:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        pytest.skip("needs the Redis server on 127.0.0.1:6379 for the channel layer")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = start_hub(
        tmp_path_factory.mktemp("broker-down"), REDIS_URL=LAYER_REDIS, CELERY_BROKER_URL=f"redis://127.0.0.1:{port}/0"
    )
    try:
        yield started
    finally:
        stop_hub(started)


def rest(hub: Hub, method: str, path: str, **kwargs) -> httpx2.Response:
    headers = {"Authorization": f"Bearer {hub.tokens['root']}"}
    return httpx2.request(method, f"{hub.base}{path}", headers=headers, timeout=30, **kwargs)


def test_a_background_call_is_refused_with_503_and_its_row_ended(hub):
    response = rest(hub, "POST", "/api/v1/tools/analyze_document/execute/", json={"arguments": {"text": TEXT}})
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["code"] == "queue_unavailable" and "queue is unavailable" in body["message"]
    assert int(response.headers["Retry-After"]) > 0

    execution = rest(hub, "GET", f"/api/v1/executions/{body['execution_id']}/").json()
    assert execution["status"] == "error" and "queue was unavailable" in execution["error"]
    assert rest(hub, "GET", "/api/v1/executions/?status=pending").json()["count"] == 0

    # The rest of the hub answers: inline tools, health.
    inline = rest(hub, "POST", "/api/v1/tools/text_statistics/execute/", json={"arguments": {"text": TEXT}})
    assert inline.status_code == 200 and inline.json()["status"] == "success"
    assert httpx2.get(f"{hub.base}/healthz", timeout=5).status_code == 200


async def test_over_mcp_it_is_an_error_result_that_says_so(hub):
    async with client(hub, hub.tokens["alice"]) as session:
        result = await session.call_tool("analyze_document", {"text": TEXT})
    assert result.is_error is True and "queue is unavailable" in result.content[0].text
    assert rest(hub, "GET", "/api/v1/executions/?status=pending").json()["count"] == 0
