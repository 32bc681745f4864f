"""Long-lived sockets on Redis (issue 16).

channels-redis receives with a blocking BZPOPMIN of up to 5 s. redis-py 8's default 5 s
socket timeout raced it, so an idle task pane socket died with 1011 after about 5 s. These
tests use the shared Redis from REDIS_URL (skipped on the embedded pass).
"""

import asyncio

import pytest
from channels.layers import get_channel_layer

pytestmark = [pytest.mark.services, pytest.mark.fault]


async def test_idle_receive_outlasts_the_blocking_pop():
    """A receive that waits longer than one BZPOPMIN round must not raise a Redis timeout."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    # Before the fix this raised redis.exceptions.TimeoutError after ~5 s.
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(channel), timeout=8)
    # The layer still works afterwards: a message sent now arrives.
    await layer.send(channel, {"type": "ping.me"})
    message = await asyncio.wait_for(layer.receive(channel), timeout=5)
    assert message["type"] == "ping.me"
    await layer.flush()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
async def test_a_task_pane_socket_idle_for_over_a_minute_on_redis_still_runs_a_tool(token):
    """The deployed configuration: the consumer's channel-layer receive on Redis under an
    idle socket. Before the fix the socket was closed with 1011 after about 5 s."""
    from channels.testing import WebsocketCommunicator

    from mcpsite.asgi import application

    communicator = WebsocketCommunicator(application, "/ws/addin/", headers=[(b"origin", b"http://127.0.0.1:8000")])
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    await communicator.send_json_to({"type": "auth", "token": token, "client": "tests"})
    assert (await communicator.receive_json_from(timeout=10))["type"] == "authenticated"

    assert await communicator.receive_nothing(timeout=65)  # no close, no error: just quiet

    await communicator.send_json_to(
        {"type": "tool_execute", "id": "late", "tool": "text_statistics", "arguments": {"text": "Still here. Yes."}}
    )
    while (frame := await communicator.receive_json_from(timeout=30))["type"] != "execution_result":
        assert frame["type"] in ("execution_accepted", "execution_progress", "execution_log"), frame
    assert frame["status"] == "success" and frame["result"]["sentences"] == 2
    await communicator.disconnect()
