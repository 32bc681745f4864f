"""The Redis cache keeps one connection pool per process (mcpsite/cache.py): Django's own
backend made a pool, and so a Redis connection, for every cache instance, and under ASGI
every request (each thread, each async context) has an instance of its own."""

from __future__ import annotations

import threading
import uuid

import pytest
import redis
from django.conf import settings

from mcpsite.cache import RedisCache

pytestmark = pytest.mark.services


def test_cache_instances_of_many_threads_share_one_connection():
    name = f"cachetest-{uuid.uuid4().hex[:8]}"
    params = {"OPTIONS": {"client_name": name}}
    caches = []  # kept, as a serving process keeps its threads' instances while they live

    def use_a_cache_of_its_own(n: int) -> None:
        cache = RedisCache(settings.REDIS_URL, params)  # what each request's thread gets
        caches.append(cache)
        cache.set(f"{name}:{n}", n, timeout=30)
        assert cache.get(f"{name}:{n}") == n

    # One thread after the other: threads that overlap may each hold a connection of the
    # shared pool at once (ten at worst), which would make the count below a race.
    for n in range(10):
        thread = threading.Thread(target=use_a_cache_of_its_own, args=(n,))
        thread.start()
        thread.join()
    clients = redis.Redis.from_url(settings.REDIS_URL).client_list()
    mine = [client for client in clients if client.get("name") == name]
    # Without the shared pool each of the ten instances kept a pool and a connection of its own.
    assert len(mine) == 1, len(mine)
