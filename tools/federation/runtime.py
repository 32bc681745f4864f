"""Federation's background work in this process: loading, syncing, health checks.

Nothing here runs at import or in ``AppConfig.ready``. On the first registry read the
stored listings of all remote servers are registered (one query, no network), and
if any server exists a monitor thread starts. It checks the enabled servers soon
(which refreshes a listing that changed), then every ``FEDERATION_HEALTH_INTERVAL``
seconds, and notices rows added, changed or removed by other processes every
``FEDERATION_RELOAD_INTERVAL`` seconds. Jobs run on the hub's job threads (``jobs.py``).
What this process knows lives on its hub (``hub.federation()``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from django.apps import apps
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from tools.federation.hub import Federation, federation
from tools.federation.models import RemoteServer
from tools.federation.pool import Listing
from tools.federation.services import (
    FederationError,
    remote_server_check,
    remote_server_forget,
    remote_server_record_failure,
    remote_server_register,
    remote_server_store_announced,
    remote_server_sync,
)
from tools.registry import registry

logger = logging.getLogger(__name__)

# Seconds after the monitor starts before its first health check (when the interval is longer).
FIRST_CHECK_AFTER = 5.0


def make_hub() -> Federation:
    """A hub whose pools and failed calls start this module's background jobs."""
    return Federation(
        on_list_changed=list_changed,
        on_unreachable=schedule_record_failure,
        on_health_changed=registry.notify_changed,
    )


# --- Jobs ---------------------------------------------------------------------------------


def schedule_sync(name: str) -> None:
    """Resync one server's tools in the background (list_changed, row changes)."""

    def job() -> None:
        server = RemoteServer.objects.filter(name=name).first()
        if server is None:
            remote_server_forget(name=name, server_id=None)
            return
        if not server.enabled:
            remote_server_register(server=server)
            return
        try:
            remote_server_sync(server=server)
        except FederationError as exc:
            logger.warning("%s", exc)

    federation().jobs.schedule("sync", name, job)


def schedule_listing(name: str, listing: Listing) -> None:
    """Store and register a listing a server sent after announcing a change (newest wins)."""

    def store(item: Listing) -> None:
        remote_server_store_announced(name=name, listing=item)

    federation().jobs.offer("listing", name, listing, store, replaces=lambda waiting: waiting.seq < listing.seq)


def list_changed(name: str, listing: Listing | None) -> None:
    """A remote server said its tool list changed (called on the federation loop)."""
    if listing is None:
        schedule_sync(name)
    else:
        schedule_listing(name, listing)


def schedule_check(name: str) -> None:
    def job() -> None:
        server = RemoteServer.objects.filter(name=name).first()
        if server is not None and server.enabled:
            before = server.healthy
            server = remote_server_check(server=server)
            if before is not False and server.healthy is False:
                logger.warning("remote server %s is failing: %s", name, server.last_error)
            elif before is False and server.healthy:
                logger.info("remote server %s recovered", name)

    federation().jobs.schedule("check", name, job)


def schedule_record_failure(name: str, error: str) -> None:
    """A call found the server unreachable: store it, so /readyz and the admin say so."""
    observed_at = timezone.now()

    def job() -> None:
        remote_server_record_failure(name=name, error=error, observed_at=observed_at)

    federation().jobs.schedule("failure", name, job)


# --- Loading on first use and the monitor ---------------------------------------------------


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def load_on_first_use() -> None:
    """Registry loader: register the stored remote tools once; cheap on every later read."""
    if not apps.ready:
        return
    hub = federation()
    if hub.loaded or getattr(hub.loading, "active", False):
        return
    # Looked lately (the common case, every call of a hub without remote servers: the
    # clock first, which is cheaper than asking asyncio). ORM calls are not allowed on an
    # event loop; a sync read comes soon enough.
    if time.monotonic() < hub.next_look or _in_event_loop():
        return
    hub.loading.active = True
    try:
        with hub.lock:
            if hub.loaded:
                return
            hub.next_look = time.monotonic() + settings.FEDERATION_RELOAD_INTERVAL
        try:
            servers = list(RemoteServer.objects.all())
        except Exception:  # no table yet (before migrate), or no database in this context
            logger.debug("remote servers not loaded yet", exc_info=True)
            return
        if not servers:
            return  # looked again after FEDERATION_RELOAD_INTERVAL
        for server in servers:
            remote_server_register(server=server)
        with hub.lock:
            hub.known.update({s.name: s.updated for s in servers})
            hub.loaded = True
        # The monitor's first health check refreshes any listing that changed meanwhile;
        # a server never synced (added by another process) has no listing to refresh.
        start()
        for server in servers:
            if server.enabled and server.last_synced is None:
                schedule_sync(server.name)
    finally:
        hub.loading.active = False


def note_row(name: str, updated: object | None) -> None:
    """This process changed a row itself (the signal handles it); the monitor skips it."""
    hub = federation()
    with hub.lock:
        if updated is None:
            hub.known.pop(name, None)
        else:
            hub.known[name] = updated
        hub.loaded = True
    start()


def _reload_rows(hub: Federation) -> None:
    rows = dict(RemoteServer.objects.values_list("name", "updated"))
    with hub.lock:
        known = dict(hub.known)
        hub.known.clear()
        hub.known.update(rows)
    changed = [name for name, updated in rows.items() if known.get(name) != updated]
    if changed:
        # What the other process stored is offered at once (no network); the sync then
        # refreshes it, and brings the listing of a row that had none when it was read.
        for server in RemoteServer.objects.filter(name__in=changed):
            remote_server_register(server=server)
            schedule_sync(server.name)
    for name in set(known) - set(rows):
        remote_server_forget(name=name, server_id=None)


def _check_all() -> None:
    for name in RemoteServer.objects.filter(enabled=True).values_list("name", flat=True):
        schedule_check(name)


def _run_monitor(hub: Federation, stop: threading.Event) -> None:
    last_reload = time.monotonic()
    # The first check comes soon, but not at once: a short management command that only
    # read the registry should not start remote servers on its way out.
    last_check = last_reload - max(0.0, settings.FEDERATION_HEALTH_INTERVAL - FIRST_CHECK_AFTER)
    while not stop.wait(0.25):
        now = time.monotonic()
        try:
            reload_every = settings.FEDERATION_RELOAD_INTERVAL
            if reload_every > 0 and now - last_reload >= reload_every:
                last_reload = now
                _reload_rows(hub)
            check_every = settings.FEDERATION_HEALTH_INTERVAL
            if check_every > 0 and now - last_check >= check_every:
                last_check = now
                _check_all()
        except Exception:
            logger.exception("federation monitor tick failed")
        finally:
            close_old_connections()


def start() -> None:
    """Start the monitor thread of this process (once)."""
    hub = federation()
    with hub.lock:
        if hub.monitor is not None and hub.monitor.is_alive():
            return
        hub.monitor_stop.clear()
        hub.monitor = threading.Thread(
            target=_run_monitor, args=(hub, hub.monitor_stop), name="federation-monitor", daemon=True
        )
        hub.monitor.start()
