"""The Redis cache backend with one connection pool per process.

Django's ``RedisCache`` builds its client, and with it a connection pool, per cache
instance, and ``caches`` holds an instance per thread and per async context: under ASGI
every request opened a new Redis connection for its first cache call (the rate limit, the
result cache, a heartbeat). Here the pools are shared by the process, keyed by server and
options; redis-py's pool notices a fork and starts over in the child. Django also builds a
new ``redis.Redis`` around the pool for every cache call (about 50 us with redis-py 8,
half of a ``cache.get``); a client on a pool is thread-safe, so each pool has one.
"""

from __future__ import annotations

import threading
from typing import Any

from django.core.cache.backends.redis import RedisCacheClient
from django_prometheus.cache.backends.redis import NativeRedisCache

_pools: dict[str, Any] = {}
_clients: dict[int, Any] = {}  # id of a pool in _pools (kept for good) -> its client
_lock = threading.Lock()


class SharedPoolRedisCacheClient(RedisCacheClient):
    def _get_connection_pool(self, write: bool) -> Any:
        client: Any = self  # RedisCacheClient's private attributes, not in django-stubs
        index = client._get_connection_pool_index(write)
        key = f"{client._servers[index]} {sorted(client._pool_options.items())!r}"
        pool = _pools.get(key)
        if pool is None:
            with _lock:
                pool = _pools.get(key)
                if pool is None:
                    pool = _pools[key] = client._pool_class.from_url(client._servers[index], **client._pool_options)
        return pool

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)
        client = _clients.get(id(pool))
        if client is None:
            with _lock:
                client = _clients.setdefault(id(pool), self._client(connection_pool=pool))  # type: ignore[attr-defined]
        return client


class RedisCache(NativeRedisCache):
    """django-prometheus' Redis cache (its hit/miss metrics) on the shared pools."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = SharedPoolRedisCacheClient
