from __future__ import annotations

import asyncio
import os
import tempfile

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache

from accounts.models import User
from accounts.services import token_create
from tests.crossproc import SHARED_DIR_VARIABLE

# Under pytest-xdist (make test-fast) each worker is a hub of its own: its own test
# database (pytest-django names it per worker), and here its own files.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")

# Before any tool process starts, so that they inherit it (tests/crossproc.py). Workers
# inherit the controller's variable, so each sets one of its own: parallel tests must not
# count each other's runs.
if XDIST_WORKER or SHARED_DIR_VARIABLE not in os.environ:
    os.environ[SHARED_DIR_VARIABLE] = tempfile.mkdtemp(prefix=f"mcpsite-test-shared-{XDIST_WORKER}")
if XDIST_WORKER:
    # The process caches' stamp file (mcpsite/processcache.py) stands for "the processes
    # that share this database": another worker's changes must not empty this one's caches.
    django_settings.DATA_DIR = django_settings.DATA_DIR / f"xdist-{XDIST_WORKER}"
    django_settings.DATA_DIR.mkdir(exist_ok=True)


@pytest.fixture(autouse=True, scope="session")
def _warm_tool_pool():
    """Start the tool processes once, before the first test that runs a tool: the fork
    server's first start (Django and the tool libraries) must not eat a call's timeout."""
    from executions import toolpool

    toolpool.get_pool().prestart()
    yield
    toolpool.reset_pool()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup):
    """pytest-django's, and then, before it drops the test database: Django's async ORM
    (``aget`` and the like, which tests use) runs on asgiref's one sync thread, and nothing
    closes that thread's connection. On PostgreSQL it stayed taken from the pool, and the
    database could not be dropped ("being accessed by other users")."""
    yield
    from asgiref.sync import sync_to_async
    from django.db import connections

    asyncio.run(sync_to_async(connections.close_all)())


@pytest.fixture(autouse=True)
def _clear_cache():
    # Rate-limit counters and cached results must not leak from one test to the next, nor
    # a circuit breaker that a test with a dead Redis opened.
    from mcpsite import processcache
    from mcpsite.breaker import cache_breaker, channel_layer_breaker

    cache_breaker.reset()
    channel_layer_breaker.reset()
    cache.clear()
    # Nor what a process keeps of tokens and tool configurations: a test database is
    # emptied between tests without the signals a real change sends.
    processcache.forget_here()
    yield
    processcache.forget_here()
    cache.clear()
    cache_breaker.reset()
    channel_layer_breaker.reset()


@pytest.fixture(autouse=True)
def _no_federation_monitor_left():
    """A test that stored a remote server starts this process's federation monitor at its
    first registry read. It must not run on into later tests: there it read tables without
    database access (pytest-django refuses; CI printed its tracebacks) or within another
    test's counted statements."""
    yield
    from django.apps import apps

    from tools.federation.hub import federation

    monitor = federation().monitor
    if monitor is not None and monitor.is_alive():
        apps.get_app_config("federation").renew_hub()  # type: ignore[attr-defined]  # the app config's own method


@pytest.fixture(autouse=True)
def _no_reaper_left():
    """A test served by the ASGI app (``mcpsite.asgi``) starts this process's in-process
    reaper, which looks at the executions every EXECUTION_REAPER_INTERVAL seconds. It must
    not run on into later tests: there it read tables without database access, and its
    error was reported against whichever test ran then (make test-fast, an event store test
    under warnings-as-errors)."""
    yield
    from executions import reaper, toolpool

    reaper.stop_in_process()
    # Its first request also started the tool processes in the background: a later test's
    # /readyz must not find them half started (it would answer 503 "starting"). A start
    # that never ends fails the test that began it, once, not every later one.
    global _tool_pool_start_hung
    if not _tool_pool_start_hung and not toolpool.wait_for_start(timeout=120):
        _tool_pool_start_hung = True
        pytest.fail("the tool processes' background start did not end within 120 s")


_tool_pool_start_hung = False


@pytest.fixture(autouse=True)
def _eager_celery_unless_services(request, settings):
    """Background tools run eagerly in-process, except in tests marked `services`, which
    use the real broker and worker of CI's second pass."""
    if "services" in request.keywords:
        yield
        return
    from mcpsite.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    settings.CELERY_TASK_ALWAYS_EAGER = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def user(db) -> User:
    return User.objects.create_user(username="alice", email="alice@example.com", password="pw-alice-123")


@pytest.fixture
def admin_user(db) -> User:
    return User.objects.create_user(
        username="root", email="root@example.com", password="pw-root-123", role=User.Role.ADMIN, is_staff=True,
        is_superuser=True,
    )


@pytest.fixture
def token(user) -> str:
    return token_create(user=user, name="test")[1]


@pytest.fixture
def api_client(token):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def pytest_sessionstart(session: pytest.Session) -> None:
    """In CI's service pass a missing PostgreSQL or Redis fails the run instead of skipping."""
    import os

    if os.environ.get("REQUIRE_SERVICES") != "1":
        return
    from django.conf import settings

    problems = []
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        problems.append("DATABASE_URL does not point at PostgreSQL")
    if not settings.REDIS_URL:
        problems.append("REDIS_URL is not set")
    else:
        import redis

        try:
            redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=3).ping()
        except redis.RedisError as exc:
            problems.append(f"Redis at {settings.REDIS_URL} does not answer: {exc}")
    if problems:
        pytest.exit("REQUIRE_SERVICES=1 but " + "; ".join(problems), returncode=3)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `services` need REDIS_URL; without it (embedded run) they are skipped."""
    import os

    if os.environ.get("REDIS_URL"):
        return
    skip = pytest.mark.skip(reason="needs REDIS_URL (and DATABASE_URL); CI's second pass sets them")
    for item in items:
        if "services" in item.keywords:
            item.add_marker(skip)
