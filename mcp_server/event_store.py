"""Where the SSE events of 2025-11-25 streams are kept, so that a client can resume.

With an event store the SDK's transport starts every POST's SSE stream with a priming
event (an event id, empty data, and ``retry:`` set from ``MCP_SSE_RETRY_MS``) and
replays what a client missed when it comes back with ``Last-Event-ID``. Events live
where every web process can read them: in Redis when ``REDIS_URL`` is set, in the
database otherwise, for ``MCP_EVENT_TTL`` seconds.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone
from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp_types.jsonrpc import JSONRPCMessage, jsonrpc_message_adapter

logger = logging.getLogger(__name__)

REDIS_PREFIX = "mcpsite:mcp-events"
# The database store deletes expired events on every this many stores, not on each.
PRUNE_EVERY = 200


def _dump(message: JSONRPCMessage | None) -> str | None:
    if message is None:
        return None
    return json.dumps(message.model_dump(by_alias=True, mode="json", exclude_none=True))


def _load(data: str) -> JSONRPCMessage:
    return jsonrpc_message_adapter.validate_json(data)


class DatabaseEventStore(EventStore):
    """Events as rows of ``MCPStreamEvent``; the event id is the row's id."""

    def __init__(self) -> None:
        self._stored = 0

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        return await database_sync_to_async(self._store)(stream_id, _dump(message))

    def _store(self, stream_id: str, data: str | None) -> str:
        from tools.models import MCPStreamEvent

        event = MCPStreamEvent.objects.create(stream_id=stream_id, message=data)
        self._stored += 1
        if self._stored % PRUNE_EVERY == 1:
            expired = timezone.now() - timedelta(seconds=settings.MCP_EVENT_TTL)
            MCPStreamEvent.objects.filter(created__lt=expired).delete()
        return str(event.pk)

    async def replay_events_after(self, last_event_id: EventId, send_callback: EventCallback) -> StreamId | None:
        found = await database_sync_to_async(self._after)(last_event_id)
        if found is None:
            return None
        stream_id, events = found
        for event_id, data in events:
            await send_callback(EventMessage(_load(data), event_id))
        return stream_id

    def _after(self, last_event_id: str) -> tuple[str, list[tuple[str, str]]] | None:
        from tools.models import MCPStreamEvent

        if not last_event_id.isdigit():
            return None
        last = MCPStreamEvent.objects.filter(pk=int(last_event_id)).first()
        if last is None:
            return None
        later = MCPStreamEvent.objects.filter(
            stream_id=last.stream_id, pk__gt=last.pk, message__isnull=False
        ).order_by("pk").values_list("pk", "message")
        return last.stream_id, [(str(pk), message) for pk, message in later if message is not None]


class RedisEventStore(EventStore):
    """Events in Redis: a counter for ids, one key per event, a list per stream; all expire."""

    def __init__(self, url: str) -> None:
        import redis.asyncio as redis

        self._redis = redis.Redis.from_url(url)

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        ttl = int(settings.MCP_EVENT_TTL)
        event_id = str(await self._redis.incr(f"{REDIS_PREFIX}:seq"))
        record = json.dumps({"stream": stream_id, "message": _dump(message)})
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(f"{REDIS_PREFIX}:event:{event_id}", record, ex=ttl)
            pipe.rpush(f"{REDIS_PREFIX}:stream:{stream_id}", event_id)
            pipe.expire(f"{REDIS_PREFIX}:stream:{stream_id}", ttl)
            await pipe.execute()
        return event_id

    async def replay_events_after(self, last_event_id: EventId, send_callback: EventCallback) -> StreamId | None:
        if not last_event_id.isdigit():
            return None
        raw = await self._redis.get(f"{REDIS_PREFIX}:event:{last_event_id}")
        if raw is None:
            return None
        stream_id = json.loads(raw)["stream"]
        listed = await self._redis.lrange(f"{REDIS_PREFIX}:stream:{stream_id}", 0, -1)
        ids = [i.decode() if isinstance(i, bytes) else i for i in listed]
        later = [i for i in ids if int(i) > int(last_event_id)]
        if later:
            records = await self._redis.mget([f"{REDIS_PREFIX}:event:{i}" for i in later])
            for event_id, record in zip(later, records, strict=True):
                if record is None:
                    continue
                data: Any = json.loads(record)["message"]
                if data is not None:
                    await send_callback(EventMessage(_load(data), event_id))
        return stream_id


def event_store() -> EventStore:
    if settings.REDIS_URL:
        return RedisEventStore(settings.REDIS_URL)
    return DatabaseEventStore()
