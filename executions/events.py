"""Where an execution's progress and result go while it runs.

Every event is published twice over: to listeners in this process (the door that
started an inline call, or anything subscribed here), and, when the hub has Redis
(``REDIS_URL``), to the execution's Redis pub/sub channel, so that a door in another
process (waiting for a Celery worker's task, or a task pane that reconnected to another
web process) receives it too.

Across processes the events travel on a bus of their own (``_Bus``): one thread per
process with an event loop, one Redis connection that publishes and one that
subscribes. A publish is one ``PUBLISH`` and never waits: the events are queued and
sent in order, a burst in one pipeline. A process subscribes to an execution's channel
only while something in it follows that execution (``follow``), and the subscription
is confirmed by Redis before ``follow`` returns, so no later event is missed. The row
stays the record: an event lost with Redis is found by whoever reads the row (the
waiting doors do, every ``awaiting.POLL_SECONDS``). Channels' group send, used before,
took four Redis round trips per event and a sorted set per execution.

Event shapes (JSON-able dicts):
    {"type": "execution.progress", "execution_id", "progress", "total", "message"}
    {"type": "execution.log", "execution_id", "level", "message"}
    {"type": "execution.result", "execution_id", "status", "result", "error"}
    {"type": "execution.input_required", "execution_id", "input_requests"}
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import os
import threading
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from django.conf import settings

from mcpsite.breaker import channel_layer_breaker

if TYPE_CHECKING:
    from executions.models import ToolExecution

logger = logging.getLogger(__name__)

Event = dict[str, Any]
Listener = Callable[[Event], None]

_listeners: dict[str, list[Listener]] = defaultdict(list)
_lock = threading.Lock()

# Progress and log events that Redis has not taken yet are dropped past this many (a tool
# that reports in a tight loop, against a slow Redis, must not grow the queue without
# bound); other events (a result) are never dropped for it.
PUBLISH_BACKLOG = 1000
_REPORTS = frozenset({"execution.progress", "execution.log"})


def result_event(execution: ToolExecution) -> Event:
    """The ``execution.result`` event of an execution as its row (or the copy in hand) holds
    it: the one shape every door and the service publish, replay and deliver."""
    return {
        "type": "execution.result", "execution_id": str(execution.id), "status": execution.status,
        "result": execution.result, "error": execution.error,
    }


def subscribe(execution_id: object, listener: Listener) -> Callable[[], None]:
    """Call ``listener`` with each event of the execution published in this process;
    returns unsubscribe. ``follow`` also brings the events published elsewhere."""
    key = str(execution_id)
    with _lock:
        _listeners[key].append(listener)

    def unsubscribe() -> None:
        with _lock:
            if listener in _listeners.get(key, []):
                _listeners[key].remove(listener)
            if not _listeners.get(key):
                _listeners.pop(key, None)

    return unsubscribe


async def follow(execution_id: object, listener: Listener) -> Callable[[], None]:
    """``subscribe``, and, when events cross processes, this process's subscription to the
    execution's channel: once this returns, an event published anywhere reaches
    ``listener`` (on the bus's thread: it must be quick and thread-safe). Returns stop."""
    stop, confirmed = _follow(str(execution_id), listener)
    if confirmed is not None:
        try:
            # _subscribe's own steps are bounded; this bound only guards a stalled bus.
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(confirmed)), timeout=_bound() * 2 + 1)
        except asyncio.CancelledError:
            stop()
            raise
        except Exception as exc:
            _not_confirmed(execution_id, exc)
    return stop


def follow_blocking(execution_id: object, listener: Listener) -> Callable[[], None]:
    """``follow`` from a thread that is not on an event loop (a call's own thread, a sync
    view): it waits there, with no hop to a loop."""
    stop, confirmed = _follow(str(execution_id), listener)
    if confirmed is not None:
        try:
            confirmed.result(timeout=_bound() * 2 + 1)
        except Exception as exc:
            _not_confirmed(execution_id, exc)
    return stop


def _follow(key: str, listener: Listener) -> tuple[Callable[[], None], Future[None] | None]:
    unsubscribe = subscribe(key, listener)
    bus = _bus()
    if bus is None:
        return unsubscribe, None
    confirmed = bus.follow(key)
    stopped = False

    def stop() -> None:
        nonlocal stopped
        if not stopped:
            stopped = True
            unsubscribe()
            bus.unfollow(key)

    return stop, confirmed


def _not_confirmed(execution_id: object, exc: BaseException) -> None:
    # Redis did not confirm in time: the follower learns the end from the row instead.
    logger.warning("could not follow execution %s across processes: %r", execution_id, exc)


def _bound() -> float:
    return float(settings.REDIS_SOCKET_TIMEOUT)


def publish(execution_id: object, event: Event) -> None:
    """Deliver ``event`` to this process's listeners and send it to the other processes'.
    Never waits for Redis."""
    key = str(execution_id)
    _deliver(key, event)
    bus = _bus()
    if bus is not None and channel_layer_breaker.allows():
        bus.publish(key, event)


def _deliver(key: str, event: Event) -> None:
    with _lock:
        listeners = list(_listeners.get(key, ()))
    for listener in listeners:
        try:
            listener(event)
        except Exception:
            logger.exception("execution event listener failed")


class _Bus:
    """Execution events between processes over Redis pub/sub (see the module's doc)."""

    def __init__(self, url: str) -> None:
        # Imported here: without Redis the web process never loads redis-py (about 6 MB).
        import redis.asyncio as aioredis

        self.origin = uuid.uuid4().hex  # this process's own events come back to it: skipped
        options: dict[str, Any] = {
            "socket_connect_timeout": settings.REDIS_CONNECT_TIMEOUT, "health_check_interval": 30,
        }
        self.redis = aioredis.Redis.from_url(url, socket_timeout=settings.REDIS_SOCKET_TIMEOUT, **options)
        self.pubsub = aioredis.Redis.from_url(url, **options).pubsub()
        self.loop = asyncio.new_event_loop()
        self._outbox: deque[tuple[str, str]] = deque()
        self._reports = 0  # progress and log events in the outbox
        self._dropped = 0
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()  # set while nothing published waits to go out
        self._idle.set()
        self._subscribed = asyncio.Event()
        self._following: dict[str, int] = {}  # channel -> followers in this process
        self._confirmed: dict[str, Future[None]] = {}  # channel -> its subscription's confirmation
        self._confirmations: dict[str, deque[asyncio.Future[None]]] = defaultdict(deque)
        self._counts_lock = threading.Lock()
        threading.Thread(target=self.loop.run_forever, name="execution-events", daemon=True).start()
        asyncio.run_coroutine_threadsafe(self._send_loop(), self.loop)
        asyncio.run_coroutine_threadsafe(self._receive_loop(), self.loop)

    @staticmethod
    def channel(key: str) -> str:
        return f"mcpsite.execution.{key}"

    # --- Sending (any thread) --------------------------------------------------------------

    def publish(self, key: str, event: Event) -> None:
        report = event.get("type") in _REPORTS
        payload = json.dumps({"origin": self.origin, "event": event}, default=str)
        with self._counts_lock:
            if report and self._reports >= PUBLISH_BACKLOG:
                self._dropped += 1
                if self._dropped % PUBLISH_BACKLOG == 1:
                    logger.warning("dropped %d progress or log events: Redis falls behind", self._dropped)
                return
            self._reports += report
            self._outbox.append((self.channel(key), payload))
        self.loop.call_soon_threadsafe(self._woken)

    def _woken(self) -> None:
        self._idle.clear()
        self._wake.set()

    async def _send_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            with self._counts_lock:
                batch = list(self._outbox)
                self._outbox.clear()
                self._reports = 0
            if batch:
                await self._send(batch)
            with self._counts_lock:
                if not self._outbox:
                    self._idle.set()

    async def _send(self, batch: list[tuple[str, str]]) -> None:
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for channel, payload in batch:
                    pipe.publish(channel, payload)
                await pipe.execute()
        except Exception as exc:
            # Losing an event must never fail the call: the row has its end.
            logger.warning("could not publish %d execution events: %r", len(batch), exc)
            channel_layer_breaker.failed()
        else:
            channel_layer_breaker.succeeded()

    def flush(self, timeout: float) -> None:
        """Wait (at most ``timeout``) until what was published so far has gone out."""
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._idle.wait(), self.loop).result(timeout=timeout)

    # --- Following (any thread) ------------------------------------------------------------

    def follow(self, key: str) -> Future[None]:
        """Count a follower of the execution; the future is done once Redis confirmed
        this process's subscription to its channel."""
        channel = self.channel(key)
        with self._counts_lock:
            self._following[channel] = self._following.get(channel, 0) + 1
            if self._following[channel] == 1:
                self._confirmed[channel] = asyncio.run_coroutine_threadsafe(self._subscribe(channel), self.loop)
            return self._confirmed[channel]

    def unfollow(self, key: str) -> None:
        channel = self.channel(key)
        with self._counts_lock:
            left = self._following.get(channel, 0) - 1
            if left > 0:
                self._following[channel] = left
                return
            self._following.pop(channel, None)
            self._confirmed.pop(channel, None)
        asyncio.run_coroutine_threadsafe(self._unsubscribe(channel), self.loop)

    async def _subscribe(self, channel: str) -> None:
        confirmation = self.loop.create_future()
        self._confirmations[channel].append(confirmation)
        try:
            await asyncio.wait_for(self.pubsub.subscribe(channel), timeout=_bound())
            self._subscribed.set()
            await asyncio.wait_for(asyncio.shield(confirmation), timeout=_bound())
        finally:
            waiting = self._confirmations.get(channel)
            if waiting is not None:
                if confirmation in waiting:
                    waiting.remove(confirmation)
                if not waiting:
                    del self._confirmations[channel]  # one entry per execution would add up

    async def _unsubscribe(self, channel: str) -> None:
        try:
            await asyncio.wait_for(self.pubsub.unsubscribe(channel), timeout=_bound())
        except Exception as exc:
            logger.warning("could not unsubscribe from %s: %r", channel, exc)

    # --- Receiving (the bus's loop) --------------------------------------------------------

    async def _receive_loop(self) -> None:
        await self._subscribed.wait()  # until then the pubsub has no connection to read
        while True:
            try:
                message = await self.pubsub.get_message(timeout=1.0)
            except Exception as exc:
                # redis-py connects again, and subscribes again, on the next read.
                logger.warning("execution events: lost Redis, reading again: %r", exc)
                await asyncio.sleep(1.0)
                continue
            if message is not None:
                self._received(message)

    def _received(self, message: dict[str, Any]) -> None:
        channel = message["channel"].decode() if isinstance(message["channel"], bytes) else message["channel"]
        if message["type"] == "subscribe":
            waiting = self._confirmations.get(channel)
            while waiting:
                confirmation = waiting.popleft()
                if not confirmation.done():
                    confirmation.set_result(None)
                    break
        elif message["type"] == "message":
            try:
                data = json.loads(message["data"])
            except ValueError:
                logger.warning("execution events: a message on %s that is not JSON", channel)
                return
            if data.get("origin") != self.origin:
                _deliver(channel.removeprefix(self.channel("")), data.get("event") or {})


_bus_instance: _Bus | None = None


def _bus() -> _Bus | None:
    global _bus_instance
    if not settings.REDIS_URL:  # events stay in this process
        return None
    if _bus_instance is None:
        with _lock:
            if _bus_instance is None:
                _bus_instance = _Bus(settings.REDIS_URL)
    return _bus_instance


def _forget_bus_in_child() -> None:
    # A forked child (a Celery prefork worker) has no copy of the parent's thread.
    global _bus_instance
    _bus_instance = None


os.register_at_fork(after_in_child=_forget_bus_in_child)


@atexit.register
def _flush_at_exit() -> None:
    # A process that published and ends (a command) sends what it published first.
    if _bus_instance is not None:
        _bus_instance.flush(timeout=_bound() + 1)
