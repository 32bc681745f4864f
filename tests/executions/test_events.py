"""Execution events across processes (``executions.events``): Redis pub/sub on the
shared Redis from REDIS_URL (skipped on the embedded pass). The worker-to-door path as a
whole is in test_worker; these pin the bus's own promises."""

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings

from executions import events

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parents[2]


def progress(execution_id: str, done: int) -> dict:
    return {"type": "execution.progress", "execution_id": execution_id, "progress": done, "total": None,
            "message": ""}


def result(execution_id: str) -> dict:
    return {"type": "execution.result", "execution_id": execution_id, "status": "success", "result": {"n": 1},
            "error": ""}


class Inbox:
    """A follower's listener: what arrived, and a wait for the n-th event."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self._changed = threading.Condition()

    def __call__(self, event: dict) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    async def until(self, count: int, seconds: float = 10) -> list[dict]:
        def wait() -> bool:
            with self._changed:
                return self._changed.wait_for(lambda: len(self.events) >= count, timeout=seconds)

        assert await asyncio.to_thread(wait), f"{len(self.events)} of {count} events arrived: {self.events}"
        return list(self.events)


def raw_publish(execution_id: str, event: dict) -> None:
    """As another process's bus publishes it."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.publish(f"mcpsite.execution.{execution_id}", json.dumps({"origin": "another process", "event": event}))
    client.close()


async def test_an_event_published_by_another_process_reaches_a_follower_here():
    execution_id = str(uuid.uuid4())
    inbox = Inbox()
    stop = await events.follow(execution_id, inbox)
    try:
        # The hub's own publish, in a process that ends right after it (its exit sends it).
        script = (
            "import django; django.setup()\n"
            "from executions import events\n"
            f"events.publish({execution_id!r}, {progress(execution_id, 1)!r})\n"
            f"events.publish({execution_id!r}, {result(execution_id)!r})\n"
        )
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "mcpsite.settings"}
        await asyncio.to_thread(subprocess.run, [sys.executable, "-c", script], cwd=ROOT, env=env, check=True,
                                timeout=120)
        assert await inbox.until(2) == [progress(execution_id, 1), result(execution_id)]
    finally:
        stop()


async def test_follow_returns_once_redis_listens_so_an_event_sent_right_after_arrives():
    """Fails if follow returns before the subscription reached Redis (Redis does not keep
    a message for a channel nobody listens to)."""
    for _ in range(5):
        execution_id = str(uuid.uuid4())
        inbox = Inbox()
        stop = await events.follow(execution_id, inbox)
        raw_publish(execution_id, result(execution_id))  # at once, on a connection of its own
        assert await inbox.until(1, seconds=5) == [result(execution_id)]
        stop()


async def test_a_follower_gets_an_event_of_its_own_process_once():
    """This process's event reaches its listener directly; its echo from Redis is skipped."""
    execution_id = str(uuid.uuid4())
    inbox = Inbox()
    stop = await events.follow(execution_id, inbox)
    try:
        events.publish(execution_id, progress(execution_id, 1))
        bus = events._bus()
        assert bus is not None
        await asyncio.to_thread(bus.flush, 5)  # the echo is on its way back
        raw_publish(execution_id, result(execution_id))  # comes after the echo
        assert await inbox.until(2) == [progress(execution_id, 1), result(execution_id)]
        await asyncio.sleep(0.2)
        assert len(inbox.events) == 2
    finally:
        stop()


async def test_the_process_stops_listening_when_its_last_follower_stops():
    execution_id = str(uuid.uuid4())
    channel = f"mcpsite.execution.{execution_id}"
    client = redis.Redis.from_url(settings.REDIS_URL)

    def listeners() -> int:
        return dict(client.pubsub_numsub(channel)).get(channel.encode(), 0)

    first = await events.follow(execution_id, Inbox())
    second = await events.follow(execution_id, Inbox())
    assert listeners() == 1  # one subscription for the process, however many follow
    first()
    first()  # stopping twice counts once
    await asyncio.sleep(0.2)
    assert listeners() == 1
    second()

    def unsubscribed() -> bool:
        deadline = time.monotonic() + 5
        while listeners() and time.monotonic() < deadline:
            time.sleep(0.05)
        return listeners() == 0

    assert await asyncio.to_thread(unsubscribed)
    client.close()


def test_reports_past_the_backlog_are_dropped_and_a_result_is_not(monkeypatch):
    """A tool reporting in a tight loop while Redis falls behind: the queue stays bounded,
    the progress that fits goes out in order, and the result still goes out."""
    bus = events._bus()
    assert bus is not None
    execution_id = str(uuid.uuid4())
    listener = redis.Redis.from_url(settings.REDIS_URL).pubsub(ignore_subscribe_messages=True)
    listener.subscribe(bus.channel(execution_id))
    listener.get_message(timeout=2)  # the confirmation
    monkeypatch.setattr(events, "PUBLISH_BACKLOG", 5)
    stalled, release = threading.Event(), threading.Event()

    def stall() -> None:  # on the bus's loop: nothing goes out, as behind a slow Redis
        stalled.set()
        release.wait(10)

    bus.loop.call_soon_threadsafe(stall)
    assert stalled.wait(5)
    for done in range(20):
        events.publish(execution_id, progress(execution_id, done))
    events.publish(execution_id, result(execution_id))
    release.set()

    received: list[dict] = []
    deadline = time.monotonic() + 10
    while (not received or received[-1]["type"] != "execution.result") and time.monotonic() < deadline:
        message = listener.get_message(timeout=1)
        if message is not None:
            received.append(json.loads(message["data"])["event"])
    listener.close()
    assert [e.get("progress") for e in received[:-1]] == [0, 1, 2, 3, 4]
    assert received[-1] == result(execution_id)


async def test_nothing_of_an_execution_stays_in_the_process_once_its_followers_stopped():
    """A web process follows a great many executions over its life: what it kept for one
    (listeners, counts, confirmations) goes when the last follower stops."""
    bus = events._bus()
    assert bus is not None
    keys = [str(uuid.uuid4()) for _ in range(20)]
    for key in keys:
        stop = await events.follow(key, Inbox())
        stop()
    channels = {bus.channel(key) for key in keys}
    kept = set(bus._following) | set(bus._confirmed) | set(bus._confirmations)
    assert not channels & kept
    assert not set(keys) & set(events._listeners)
