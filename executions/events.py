"""Where an execution's progress and result go while it runs.

Every event is published twice over: to listeners in this process (the door that
started an inline call, or anything subscribed here), and, when the channel layer is
shared between processes (Redis), to the execution's channel-layer group so that a
door in another process (a WebSocket client of a Celery worker's task) receives it.

Event shapes (JSON-able dicts; ``type`` uses Channels' dotted handler naming):
    {"type": "execution.progress", "execution_id", "progress", "total", "message"}
    {"type": "execution.log", "execution_id", "level", "message"}
    {"type": "execution.result", "execution_id", "status", "result", "error"}
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import InMemoryChannelLayer, channel_layers, get_channel_layer
from django.conf import settings

from mcpsite.breaker import channel_layer_breaker

if TYPE_CHECKING:
    from executions.models import ToolExecution

logger = logging.getLogger(__name__)

Event = dict[str, Any]
Listener = Callable[[Event], None]

_listeners: dict[str, list[Listener]] = defaultdict(list)
_lock = threading.Lock()
_pending: set[asyncio.Task[None]] = set()


def group_name(execution_id: object) -> str:
    return f"execution.{execution_id}"


def result_event(execution: ToolExecution) -> Event:
    """The ``execution.result`` event of an execution as its row (or the copy in hand) holds
    it: the one shape every door and the service publish, replay and deliver."""
    return {
        "type": "execution.result", "execution_id": str(execution.id), "status": execution.status,
        "result": execution.result, "error": execution.error,
    }


def subscribe(execution_id: object, listener: Listener) -> Callable[[], None]:
    """Call ``listener`` with each event of the execution in this process; returns unsubscribe."""
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


def channel_layer_is_shared() -> bool:
    layer = get_channel_layer()
    return layer is not None and not isinstance(layer, InMemoryChannelLayer)


def publish(execution_id: object, event: Event) -> None:
    key = str(execution_id)
    with _lock:
        listeners = list(_listeners.get(key, ()))
    for listener in listeners:
        try:
            listener(event)
        except Exception:
            logger.exception("execution event listener failed")
    if channel_layer_is_shared() and channel_layer_breaker.allows():
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            _publisher().send(group_name(key), event)
        else:
            # Called from an async tool: send without blocking its event loop.
            task = loop.create_task(_send(get_channel_layer(), group_name(key), event))
            _pending.add(task)
            task.add_done_callback(_pending.discard)


class _Publisher:
    """An event loop on a thread of its own, with a channel layer instance of its own, for
    events published from sync code (a tool's thread, a Celery task). ``async_to_sync``
    outside a serving loop made a new loop per event, and channels-redis a new Redis
    connection per loop: a connection per event. Sends are in order: each waits for the
    one before."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
        threading.Thread(target=self.loop.run_forever, name="event-publisher", daemon=True).start()

    def send(self, group: str, event: Event) -> None:
        future = asyncio.run_coroutine_threadsafe(_send(self.layer, group, event), self.loop)
        # _send is bounded by REDIS_SOCKET_TIMEOUT; this bound only guards a stalled loop.
        try:
            future.result(timeout=settings.REDIS_SOCKET_TIMEOUT + 1)
        except TimeoutError:
            future.cancel()
            logger.warning("publishing an execution event timed out")


_publisher_instance: _Publisher | None = None


def _publisher() -> _Publisher:
    global _publisher_instance
    if _publisher_instance is None:
        with _lock:
            if _publisher_instance is None:
                _publisher_instance = _Publisher()
    return _publisher_instance


def _forget_publisher_in_child() -> None:
    # A forked child (a Celery prefork worker) has no copy of the parent's thread.
    global _publisher_instance
    _publisher_instance = None


os.register_at_fork(after_in_child=_forget_publisher_in_child)


async def _send(layer: Any, group: str, event: Event) -> None:
    """One group send, bounded by REDIS_SOCKET_TIMEOUT (the layer's own socket timeout is
    long, for its blocking receives): a hung Redis costs a call that much once, then the
    breaker skips the layer for REDIS_BREAKER_SECONDS."""
    try:
        await asyncio.wait_for(layer.group_send(group, event), timeout=settings.REDIS_SOCKET_TIMEOUT)
    except Exception:
        # Losing a progress event must never fail the tool call itself.
        logger.warning("could not publish execution event to the channel layer", exc_info=True)
        channel_layer_breaker.failed()
    else:
        channel_layer_breaker.succeeded()
