"""Where the SSE events of 2025-11-25 streams are kept, so that a client can resume.

With an event store the SDK's transport starts every POST's SSE stream with a priming
event (an event id, empty data, and ``retry:`` set from ``MCP_SSE_RETRY_MS``) and
replays what a client missed when it comes back with ``Last-Event-ID``.

Each session's events are its own: the SDK gives every session's transport the
manager's one store and names a stream by its JSON-RPC request id, which every session
counts from the start and the event id is easy to guess. So a session's transport gets
its own view (``ProcessEvents.for_session``): a resume answers only with that session's
events, whatever id a client sends.

The events live in this process's memory. A 2025-11-25 session lives in the web process
that opened it (the SDK keeps its transport there; another process answers its id with
404), so only that process can ever replay its events: there is nothing to gain from
writing them to the database or Redis, which cost two writes per call. They are kept for
``MCP_EVENT_TTL`` seconds, dropped when their session ends, and the process keeps at most
``MCP_EVENT_STORE_BYTES`` of them (the oldest go first; resuming after them replays
nothing, as after their expiry). The budget counts what the events take in the process's
memory, their bookkeeping included.
"""

from __future__ import annotations

import itertools
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from django.conf import settings
from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp_types.jsonrpc import JSONRPCMessage, jsonrpc_message_adapter

# What the bookkeeping of an event, a stream and a session takes in memory, measured on
# CPython 3.12 with tracemalloc (an event's object, id, time and entries; a stream's
# key, list and entry in its session's set; a session's set): with them, what the budget
# counts is what the process holds (tests/mcp_server/test_event_store.py measures it).
EVENT_OVERHEAD = 400
STREAM_OVERHEAD = 350
SESSION_OVERHEAD = 350


@dataclass(slots=True)
class _Event:
    session_id: str
    stream_id: str
    data: str | None  # None: a stream's priming event (an empty message is a real event)
    at: float
    size: int


class ProcessEvents:
    """The events of every session of this process, oldest first, within a byte budget."""

    def __init__(self, *, ttl: float | None = None, max_bytes: int | None = None) -> None:
        self._ttl, self._max_bytes = ttl, max_bytes  # None: the setting's (read as it is used)
        self._ids = itertools.count(1)
        self._events: OrderedDict[int, _Event] = OrderedDict()
        # A stream's event ids, oldest first: a list, since most streams hold two events
        # (the priming one and the response): 72 bytes for two ids, against a deque's 760.
        self._streams: dict[tuple[str, str], list[int]] = {}
        self._session_streams: dict[str, set[str]] = {}
        self._bytes = 0
        # Transports of several event loops (one manager per loop) may share the process's events.
        self._lock = threading.Lock()

    def for_session(self, session_id: str) -> SessionEvents:
        return SessionEvents(self, session_id)

    @property
    def ttl(self) -> float:
        return settings.MCP_EVENT_TTL if self._ttl is None else self._ttl

    @property
    def max_bytes(self) -> int:
        return settings.MCP_EVENT_STORE_BYTES if self._max_bytes is None else self._max_bytes

    @property
    def size(self) -> int:
        """Bytes of events held."""
        return self._bytes

    def add(self, session_id: str, stream_id: str, message: JSONRPCMessage | None) -> str:
        data = None if message is None else message.model_dump_json(by_alias=True, exclude_none=True)
        # The text as Python holds it (1, 2 or 4 bytes a character), and the bookkeeping.
        size = EVENT_OVERHEAD + (sys.getsizeof(data) if data is not None else 0)
        now = time.monotonic()
        with self._lock:
            key = (session_id, stream_id)
            # A new stream's and session's bookkeeping is counted with their first event.
            new_stream = key not in self._streams
            if new_stream:
                size += STREAM_OVERHEAD + (SESSION_OVERHEAD if session_id not in self._session_streams else 0)
            self._expire(now, room=size)
            event_id = next(self._ids)
            self._events[event_id] = _Event(session_id, stream_id, data, now, size)
            # (Not `if new_stream`: making room may have dropped the stream's older events.)
            self._streams.setdefault(key, []).append(event_id)
            self._session_streams.setdefault(session_id, set()).add(stream_id)
            self._bytes += size
        return str(event_id)

    def after(self, session_id: str, last_event_id: str) -> tuple[str, list[EventMessage]] | None:
        """The stream of ``last_event_id`` and its later events, if that event is this
        session's and still kept; None otherwise."""
        # An id this store made: ASCII digits, short (isdigit alone lets "²" and 5,000 digits by).
        if not (last_event_id.isascii() and last_event_id.isdigit() and len(last_event_id) <= 20):
            return None
        last = int(last_event_id)
        with self._lock:
            self._expire(time.monotonic())
            event = self._events.get(last)
            if event is None or event.session_id != session_id:
                return None
            later = [(i, self._events[i].data) for i in self._streams[(session_id, event.stream_id)] if i > last]
        return event.stream_id, [
            EventMessage(jsonrpc_message_adapter.validate_json(data), str(i)) for i, data in later if data is not None
        ]

    def forget(self, session_id: str) -> None:
        """Drop a session's events (it ended: nothing can resume them any more)."""
        with self._lock:
            for stream_id in self._session_streams.pop(session_id, ()):
                for event_id in self._streams.pop((session_id, stream_id)):
                    self._bytes -= self._events.pop(event_id).size

    def _expire(self, now: float, room: int = 0) -> None:
        # Oldest first: past their TTL, or to make room within the budget.
        oldest_kept, budget = now - self.ttl, self.max_bytes
        while self._events:
            event = next(iter(self._events.values()))
            if event.at > oldest_kept and self._bytes + room <= budget:
                return
            self._events.popitem(last=False)
            self._bytes -= event.size
            key = (event.session_id, event.stream_id)
            stream = self._streams[key]
            del stream[0]  # a stream's events are in order: the oldest is this one
            if not stream:
                del self._streams[key]
                streams = self._session_streams[event.session_id]
                streams.discard(event.stream_id)
                if not streams:
                    del self._session_streams[event.session_id]


class SessionEvents(EventStore):
    """One session's view of the process's events: the store its transport is given."""

    def __init__(self, events: ProcessEvents, session_id: str) -> None:
        self.events = events
        self.session_id = session_id

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        return self.events.add(self.session_id, stream_id, message)

    async def replay_events_after(self, last_event_id: EventId, send_callback: EventCallback) -> StreamId | None:
        if not self.session_id:
            return None  # the session manager's own store: never a session's, so never replays
        found = self.events.after(self.session_id, last_event_id)
        if found is None:
            return None
        stream_id, later = found
        for event in later:
            await send_callback(event)
        return stream_id
