"""Liveness and readiness. ``/readyz`` names each part and says ok, degraded or down."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait

from asgiref.sync import async_to_sync
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import InMemoryChannelLayer, channel_layers, get_channel_layer
from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache

from executions import shutdown

# An app adds parts to /readyz by naming its check on its AppConfig (``readiness_check``,
# a dotted path): a function returning [(name, {"status": "ok"|"degraded"|"starting"|"down",
# ...})]; "degraded" does not fail readiness, "starting" and "down" do. Found here rather
# than registered from the apps, so that no app imports this view.
ReadinessCheck = Callable[[], list[tuple[str, dict]]]


def _readiness_checks() -> list[ReadinessCheck]:
    return [
        import_string(path) for config in apps.get_app_configs() if (path := getattr(config, "readiness_check", None))
    ]


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"status": "ok", "vendor": connection.vendor}
    finally:
        connection.close()  # a check thread's own connection, not kept


def _check_cache() -> dict:
    key = f"readyz:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=5)
    ok = cache.get(key) == "1"
    cache.delete(key)
    return {"status": "ok" if ok else "down"}


def _check_channel_layer() -> dict:
    layer = get_channel_layer()
    if layer is None:
        return {"status": "down", "error": "no channel layer configured"}
    own = not isinstance(layer, InMemoryChannelLayer)
    if own:
        # An instance of its own for the round trip: channels-redis receives a process's
        # channels through one receiver per layer instance, bound to the event loop that
        # first received (the serving loop, where the cache listener and the MCP session
        # follower wait); a receive from this thread's loop would wait on it in vain.
        layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)

    async def roundtrip() -> None:
        try:
            channel = await layer.new_channel()
            await layer.send(channel, {"type": "readyz.ping"})
            await asyncio.wait_for(layer.receive(channel), timeout=2)
        finally:
            if own:
                await layer.close_pools()  # type: ignore[attr-defined]  # the Redis layer's

    async_to_sync(roundtrip)()
    return {"status": "ok", "backend": type(layer).__name__}


def _check_broker() -> dict:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"status": "ok", "mode": "eager"}
    from mcpsite.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=settings.READYZ_TIMEOUT)
    return {"status": "ok", "mode": "broker"}


_CHECKS = {
    "database": _check_database,
    "cache": _check_cache,
    "channel_layer": _check_channel_layer,
    "broker": _check_broker,
}
# The checks run side by side on these threads; a check that hangs (a SIGSTOPped Redis)
# holds its thread until its own client timeout, and /readyz answers without it.
_checks_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="readyz")


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    if shutdown.draining():  # SIGTERM: send new work elsewhere while running calls finish
        return JsonResponse({"status": "shutting_down", "checks": {}}, status=503)
    checks: dict[str, dict] = {}
    started = {name: _checks_pool.submit(check) for name, check in _CHECKS.items()}
    wait(started.values(), timeout=settings.READYZ_TIMEOUT)
    for name, future in started.items():
        # Without the database nothing works: down. Without Redis (cache, channel layer,
        # broker) inline calls still run (uncached, refused background calls): degraded.
        failing = "down" if name == "database" else "degraded"
        if not future.done():
            checks[name] = {"status": failing, "error": f"no answer within {settings.READYZ_TIMEOUT:g} s"}
            continue
        try:
            checks[name] = future.result()
        except Exception as exc:
            checks[name] = {"status": failing, "error": f"{type(exc).__name__}: {exc}"[:300]}
    for extra in _readiness_checks():
        try:
            checks.update(extra())
        except Exception as exc:
            checks[getattr(extra, "__name__", "extra")] = {"status": "degraded", "error": str(exc)[:300]}
    # "starting": a part that will be ready by itself soon (the tool processes of a process
    # that just started); not ready yet, so a load balancer waits for it.
    statuses = {c["status"] for c in checks.values()}
    overall = next((s for s in ("down", "starting", "degraded") if s in statuses), "ok")
    return JsonResponse({"status": overall, "checks": checks}, status=503 if overall in ("down", "starting") else 200)
