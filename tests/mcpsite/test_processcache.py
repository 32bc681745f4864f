"""What a process keeps of tokens and tool configurations follows changes made anywhere
(mcpsite/processcache.py): in this process (signals), in another process on the machine
(the stamp file in DATA_DIR), on another machine (a channel-layer message with Redis)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from accounts.services import token_create
from mcpsite import processcache
from tools.models import ToolConfig

ROOT = Path(__file__).resolve().parents[2]
TEXT = {"arguments": {"text": "One sentence. Two."}}


def other_process(code: str) -> None:
    """Run ``code`` in a separate Django process on this test's database."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        url = f"sqlite:///{db['NAME']}"
    else:
        url = f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url, "DATA_DIR": str(settings.DATA_DIR)}
    env.pop("REDIS_URL", None)  # the stamp file alone must carry the change
    subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True,
                   capture_output=True, text=True, timeout=120)


@pytest.mark.django_db(transaction=True)
def test_a_token_revoked_by_another_process_is_refused_at_once(client, user):
    row, token = token_create(user=user, name="cached")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert client.get("/api/v1/tools/", **headers).status_code == 200  # now cached here

    other_process(f"from accounts.models import APIToken; APIToken.objects.filter(pk={row.pk!r}).delete()")

    assert client.get("/api/v1/tools/", **headers).status_code == 401


@pytest.mark.django_db(transaction=True)
def test_a_tool_disabled_by_another_process_is_refused_at_once(client, user):
    token = token_create(user=user, name="cached")[1]
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    url = "/api/v1/tools/text_statistics/execute/"
    assert client.post(url, TEXT, content_type="application/json", **headers).status_code == 200

    other_process(
        "from tools.models import ToolConfig; ToolConfig.objects.create(tool_name='text_statistics', enabled=False)"
    )

    assert client.post(url, TEXT, content_type="application/json", **headers).status_code == 404
    ToolConfig.objects.filter(tool_name="text_statistics").delete()
    assert client.post(url, TEXT, content_type="application/json", **headers).status_code == 200


@pytest.mark.django_db(transaction=True)  # a value read inside a transaction is never kept
def test_an_entry_is_dropped_by_a_change_and_by_age(settings):
    cache = processcache.ProcessCache("test")
    cache.put("key", "value", processcache.generation())
    assert cache.get("key") == "value"
    processcache.invalidate()
    assert cache.get("key") is None

    settings.PROCESS_CACHE_SECONDS = 0
    cache.put("key", "value", processcache.generation())
    time.sleep(0.01)
    assert cache.get("key") is None


@pytest.mark.django_db(transaction=True)
def test_a_value_read_before_a_change_is_not_kept(settings):
    cache = processcache.ProcessCache("test")
    read_at = processcache.generation()
    processcache.invalidate()  # the change lands while the value is being read
    cache.put("key", "stale", read_at)
    assert cache.get("key") is None


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_change_reaches_another_machine_through_the_channel_layer():
    """A listener on Redis (what every serving process runs) empties its caches when
    another process announces a change: no stamp file involved."""
    import redis

    cache = processcache.ProcessCache("test")
    loop = asyncio.new_event_loop()

    stop = asyncio.Event()

    async def listen_until_stopped() -> None:
        processcache.listen()
        await stop.wait()

    before = processcache._local
    thread = threading.Thread(target=loop.run_until_complete, args=(listen_until_stopped(),), daemon=True)
    thread.start()
    members = redis.Redis.from_url(settings.REDIS_URL)
    deadline = time.monotonic() + 10
    # Joined the group, and emptied the caches once (for changes made before it listened).
    while (
        not members.zcard(f"asgi:group:{processcache.GROUP}") or processcache._local == before
    ) and time.monotonic() < deadline:
        time.sleep(0.05)
    cache.put("key", "value", processcache.generation())
    assert cache.get("key") == "value"

    processcache._broadcast()  # what another process does after committing a change

    deadline = time.monotonic() + 10
    while cache.get("key") is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cache.get("key") is None
    loop.call_soon_threadsafe(stop.set)
    thread.join(10)


@pytest.mark.django_db(transaction=True)
def test_a_workers_user_is_read_once_and_again_after_it_changes(user):
    from django.test.utils import CaptureQueriesContext

    from accounts.services import user_by_id

    processcache.forget_here()
    assert user_by_id(user.pk) == user
    with CaptureQueriesContext(connection) as queries:
        assert user_by_id(user.pk).is_active
    assert len(queries) == 0  # kept
    other_process(f"from accounts.models import User; User.objects.filter(pk={user.pk}).update(is_active=False); "
                  f"User.objects.get(pk={user.pk}).save()")
    assert user_by_id(user.pk).is_active is False  # the other process's change is heard
    assert user_by_id(10**9) is None
