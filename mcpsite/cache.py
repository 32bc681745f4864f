"""The Redis cache backend with one connection pool per process.

Django's ``RedisCache`` builds its client, and with it a connection pool, per cache
instance, and ``caches`` holds an instance per thread and per async context: under ASGI
every request opened a new Redis connection for its first cache call (the rate limit, the
result cache, a heartbeat). Here the pools are shared by the process, keyed by server and
options, each with one client (Django also built a new ``redis.Redis`` around the pool for
every cache call: about 50 us with redis-py 8, half of a ``cache.get``; a client on a pool
is thread-safe). redis-py's pool notices a fork and starts over in the child.
"""

from __future__ import annotations

import threading
from typing import Any

from django.core.cache.backends.redis import RedisCacheClient
from django_prometheus.cache.backends.redis import NativeRedisCache

_clients: dict[str, Any] = {}  # server and pool options -> a client on its own pool
_lock = threading.Lock()


class SharedPoolRedisCacheClient(RedisCacheClient):
    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        client: Any = self  # RedisCacheClient's private attributes, not in django-stubs
        index = client._get_connection_pool_index(write)
        mine: dict[int, Any] = client.__dict__.setdefault("_shared_clients", {})
        shared = mine.get(index)
        if shared is None:
            name = f"{client._servers[index]} {sorted(client._pool_options.items())!r}"
            with _lock:
                shared = _clients.get(name)
                if shared is None:
                    pool = client._pool_class.from_url(client._servers[index], **client._pool_options)
                    shared = _clients[name] = client._client(connection_pool=pool)
            mine[index] = shared
        return shared


class RedisCache(NativeRedisCache):
    """django-prometheus' Redis cache (its hit/miss metrics) on the shared pools."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = SharedPoolRedisCacheClient
