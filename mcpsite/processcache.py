"""Values read from the database on every call, kept in this process until they change.

A tool call needs who the token speaks for, the tool's configuration and the caller's
session. Reading them from the database on every call cost more than the call itself
(issue 10), and they change rarely: an admin edits a tool, a token is revoked, a user
is deactivated. So each process keeps them in a ``ProcessCache`` and every such change,
in any process, empties every ``ProcessCache`` everywhere (coarse on purpose: a change
is rare, and no entry can be forgotten). A cached value is never older than the last
change that other processes could see, and never older than ``PROCESS_CACHE_SECONDS``.

How a change reaches the other processes:
- a stamp file in ``DATA_DIR`` that ``invalidate()`` replaces; a lookup compares its
  inode and mtime (one ``stat``, at most every ``STAMP_CHECK_SECONDS``) with those seen
  when the value was read. Every process
  on a machine shares ``DATA_DIR`` (the embedded SQLite database lives there), so a
  ``manage.py`` command or a second server process is heard at once;
- with Redis, a message to the ``processcache`` group of the channel layer, which every
  serving process listens to (``listen()``): replicas on other machines. Should Redis
  lose the message, the entry still ends after ``PROCESS_CACHE_SECONDS``.

Writers call ``invalidate()`` from the model signals of what a cache holds (see the
apps' ``signals`` receivers); ``invalidate()`` acts at once and again on commit, so
that a reader between the two cannot keep what the transaction replaced.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import threading
import time
import weakref
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import InMemoryChannelLayer, channel_layers, get_channel_layer
from django.conf import settings
from django.db import connection, transaction

logger = logging.getLogger(__name__)

GROUP = "processcache"
EVENT = "processcache.invalidate"
REJOIN_SECONDS = 600

_counter = itertools.count(1)
_local = 0  # bumped by every invalidation this process makes or hears of
_caches: weakref.WeakSet[ProcessCache] = weakref.WeakSet()
_listening: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
_listeners: set[asyncio.Task[None]] = set()


def _stamp_path() -> Path:
    return Path(settings.DATA_DIR) / "processcache.stamp"


# The stamp file is looked at no more often than this: a call reads several caches, and
# a change in another process is still seen within a blink.
STAMP_CHECK_SECONDS = 0.05
_stamp_seen: tuple[float, int, int] = (float("-inf"), 0, 0)  # (when looked at, inode, mtime)


def generation() -> tuple[int, int, int]:
    """What a value read now depends on; read it *before* reading the value."""
    global _stamp_seen
    looked, inode, mtime = _stamp_seen
    now = time.monotonic()
    if now - looked >= STAMP_CHECK_SECONDS:
        try:
            stat = os.stat(_stamp_path())
            inode, mtime = stat.st_ino, stat.st_mtime_ns
        except OSError:
            inode, mtime = 0, 0
        _stamp_seen = (now, inode, mtime)
    return _local, inode, mtime


@dataclass(slots=True)
class _Entry:
    value: Any
    generation: tuple[int, int, int]
    expires: float


class ProcessCache:
    """A dict of values read from the database, valid until the next ``invalidate()``."""

    def __init__(self, name: str, *, max_entries: int = 10_000) -> None:
        self.name = name
        self.max_entries = max_entries
        self._entries: dict[Hashable, _Entry] = {}
        _caches.add(self)

    def get(self, key: Hashable) -> Any | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.generation != generation() or entry.expires < time.monotonic():
            self._entries.pop(key, None)
            return None
        return entry.value

    def put(self, key: Hashable, value: Any, read_at: tuple[int, int, int]) -> None:
        """Keep ``value``, read from the database after ``read_at = generation()``.
        Not when it was read inside a transaction: it may be rolled back, which no
        signal tells."""
        if connection.in_atomic_block:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # a flood of distinct keys cannot grow the process
        self._entries[key] = _Entry(value, read_at, time.monotonic() + settings.PROCESS_CACHE_SECONDS)

    def clear(self) -> None:
        self._entries.clear()


def forget_here() -> None:
    """Empty this process's caches (what hearing of another process's change does)."""
    global _local
    _local = next(_counter)
    for cache in list(_caches):
        cache.clear()


def invalidate() -> None:
    """A value some cache holds changed: empty every cache in every process."""
    forget_here()
    _replace_stamp()
    transaction.on_commit(_after_commit)


def _after_commit() -> None:
    forget_here()
    _replace_stamp()
    _broadcast()


def _replace_stamp() -> None:
    path = _stamp_path()
    temporary = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}")
    global _stamp_seen
    _stamp_seen = (float("-inf"), 0, 0)
    try:
        temporary.write_bytes(os.urandom(8))
        os.replace(temporary, path)  # a new inode: a change even within one mtime tick
    except OSError:
        logger.warning("could not write %s; other processes see the change within %s s",
                       path, settings.PROCESS_CACHE_SECONDS, exc_info=True)


def _remote_layer() -> Any:
    """The channel layer when it reaches other processes (Redis), else None."""
    layer = get_channel_layer()
    return None if layer is None or isinstance(layer, InMemoryChannelLayer) else layer


def _broadcast() -> None:
    layer = _remote_layer()
    if layer is None:
        return
    from asgiref.sync import async_to_sync

    from mcpsite.breaker import channel_layer_breaker

    if not channel_layer_breaker.allows():
        return
    try:
        async_to_sync(_send)(layer)
    except Exception:
        channel_layer_breaker.failed()
        logger.warning("could not tell other processes to empty their caches; theirs end within %s s",
                       settings.PROCESS_CACHE_SECONDS, exc_info=True)


async def _send(layer: Any) -> None:
    await asyncio.wait_for(layer.group_send(GROUP, {"type": EVENT}), settings.REDIS_SOCKET_TIMEOUT)


def listen() -> None:
    """Hear other processes' changes on this event loop (once per loop; serving processes)."""
    loop = asyncio.get_running_loop()
    if loop in _listening or _remote_layer() is None:
        return
    _listening.add(loop)
    # A layer instance of its own: channels-redis lets one event loop receive on an
    # instance, and the shared one is the consumers' and the MCP session follower's.
    layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
    # The loop keeps only a weak reference to a task: this keeps the listener alive.
    task = loop.create_task(_listen(layer), name="processcache-listener")
    _listeners.add(task)
    task.add_done_callback(_listeners.discard)


async def _listen(layer: Any) -> None:
    channel = None
    while True:
        try:
            if channel is None:
                channel = await layer.new_channel()
                await layer.group_add(GROUP, channel)
                forget_here()  # changes made while not listening
            try:
                message = await asyncio.wait_for(layer.receive(channel), REJOIN_SECONDS)
            except TimeoutError:
                # Group membership expires in channels-redis (a day by default): renew it.
                await layer.group_add(GROUP, channel)
                continue
            if message.get("type") == EVENT:
                forget_here()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("the cache listener lost the channel layer; it tries again", exc_info=True)
            forget_here()
            channel = None
            await asyncio.sleep(1)
