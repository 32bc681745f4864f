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
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings

from mcpsite.breaker import channel_layer_breaker

logger = logging.getLogger(__name__)

Event = dict[str, Any]
Listener = Callable[[Event], None]

_listeners: dict[str, list[Listener]] = defaultdict(list)
_lock = threading.Lock()
_pending: set[asyncio.Task[None]] = set()


def group_name(execution_id: object) -> str:
    return f"execution.{execution_id}"


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
            async_to_sync(_send)(group_name(key), event)
        else:
            # Called from an async tool: send without blocking its event loop.
            task = loop.create_task(_send(group_name(key), event))
            _pending.add(task)
            task.add_done_callback(_pending.discard)


async def _send(group: str, event: Event) -> None:
    """One group send, bounded by REDIS_SOCKET_TIMEOUT (the layer's own socket timeout is
    long, for its blocking receives): a hung Redis costs a call that much once, then the
    breaker skips the layer for REDIS_BREAKER_SECONDS."""
    try:
        await asyncio.wait_for(get_channel_layer().group_send(group, event), timeout=settings.REDIS_SOCKET_TIMEOUT)
    except Exception:
        # Losing a progress event must never fail the tool call itself.
        logger.warning("could not publish execution event to the channel layer", exc_info=True)
        channel_layer_breaker.failed()
    else:
        channel_layer_breaker.succeeded()
