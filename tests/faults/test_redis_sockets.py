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
