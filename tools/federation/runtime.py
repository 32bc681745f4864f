"""Federation's background work in this process: loading, syncing, health checks.

Nothing here runs at import or in ``AppConfig.ready``. On the first registry read the
stored listings of all remote servers are registered (one query, no network), and
if any server exists a monitor thread starts. It checks the enabled servers soon
(which refreshes a listing that changed), then every ``FEDERATION_HEALTH_INTERVAL``
seconds, and notices rows added, changed or removed by other processes every
``FEDERATION_RELOAD_INTERVAL`` seconds. Jobs run on daemon threads, so a hanging remote never holds up exit.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from django.apps import apps
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

if TYPE_CHECKING:
    from tools.federation.pool import Listing

logger = logging.getLogger(__name__)

JOB_THREADS = 4
# Seconds after the monitor starts before its first health check (when the interval is longer).
FIRST_CHECK_AFTER = 5.0

_lock = threading.Lock()
_loading = threading.local()
_loaded = False
_next_look = 0.0
_known: dict[str, object] = {}  # name -> updated, of the rows this process knows
_pending: set[tuple[str, str]] = set()
_listings: dict[str, Listing] = {}
_jobs: queue.SimpleQueue[tuple[str, str, Callable[[], None]]] = queue.SimpleQueue()
_workers: list[threading.Thread] = []
_monitor: threading.Thread | None = None
_stop = threading.Event()


# --- Jobs ---------------------------------------------------------------------------------


def _work() -> None:
    while True:
        kind, name, job = _jobs.get()
        try:
            job()
        except Exception:
            logger.exception("federation %s of %s failed", kind, name)
        finally:
            with _lock:
                _pending.discard((kind, name))
            close_old_connections()


def _schedule(kind: str, name: str, job: Callable[[], None]) -> None:
    with _lock:
        if (kind, name) in _pending:
            return
        _pending.add((kind, name))
        while len(_workers) < JOB_THREADS:
            worker = threading.Thread(target=_work, name=f"federation-job-{len(_workers)}", daemon=True)
            worker.start()
            _workers.append(worker)
    _jobs.put((kind, name, job))


def _server(name: str):  # noqa: ANN202  (models import after apps are ready)
    from tools.federation.models import RemoteServer

    return RemoteServer.objects.filter(name=name).first()


def schedule_sync(name: str) -> None:
    """Resync one server's tools in the background (list_changed, row changes)."""

    def job() -> None:
        from tools.federation.services import FederationError, remote_server_forget, remote_server_register, remote_server_sync

        server = _server(name)
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

    _schedule("sync", name, job)


def schedule_listing(name: str, listing: Listing) -> None:
    """Store and register a listing a server sent after announcing a change (newest wins)."""
    with _lock:
        queued = _listings.get(name)
        if queued is None or queued.seq < listing.seq:
            _listings[name] = listing

    def job() -> None:
        from tools.federation.services import remote_server_store_announced

        while True:
            with _lock:
                item = _listings.pop(name, None)
                if item is None:
                    # Under the lock: a listing arriving after this is scheduled afresh.
                    _pending.discard(("listing", name))
                    return
            remote_server_store_announced(name=name, listing=item)

    _schedule("listing", name, job)


def schedule_check(name: str) -> None:
    def job() -> None:
        from tools.federation.services import remote_server_check

        server = _server(name)
        if server is not None and server.enabled:
            before = server.healthy
            server = remote_server_check(server=server)
            if before is not False and server.healthy is False:
                logger.warning("remote server %s is failing: %s", name, server.last_error)
            elif before is False and server.healthy:
                logger.info("remote server %s recovered", name)

    _schedule("check", name, job)


def schedule_record_failure(name: str, error: str) -> None:
    """A call found the server unreachable: store it, so /readyz and the admin say so."""
    observed_at = timezone.now()

    def job() -> None:
        from tools.federation.services import remote_server_record_failure

        remote_server_record_failure(name=name, error=error, observed_at=observed_at)

    _schedule("failure", name, job)


# --- Loading on first use and the monitor ---------------------------------------------------


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def load_on_first_use() -> None:
    """Registry loader: register the stored remote tools once; cheap on every later read."""
    global _loaded, _next_look
    if _loaded or not apps.ready or getattr(_loading, "active", False):
        return
    # ORM calls are not allowed on an event loop; a sync read comes soon enough.
    if _in_event_loop() or time.monotonic() < _next_look:
        return
    from tools.federation.models import RemoteServer
    from tools.federation.services import remote_server_register

    _loading.active = True
    try:
        with _lock:
            if _loaded:
                return
            _next_look = time.monotonic() + settings.FEDERATION_RELOAD_INTERVAL
        try:
            servers = list(RemoteServer.objects.all())
        except Exception:  # no table yet (before migrate), or no database in this context
            logger.debug("remote servers not loaded yet", exc_info=True)
            return
        if not servers:
            return  # looked again after FEDERATION_RELOAD_INTERVAL
        for server in servers:
            remote_server_register(server=server)
        with _lock:
            _known.update({s.name: s.updated for s in servers})
            _loaded = True
        # The monitor's first health check refreshes any listing that changed meanwhile;
        # a server never synced (added by another process) has no listing to refresh.
        start()
        for server in servers:
            if server.enabled and server.last_synced is None:
                schedule_sync(server.name)
    finally:
        _loading.active = False


def note_row(name: str, updated: object | None) -> None:
    """This process changed a row itself (the signal handles it); the monitor skips it."""
    global _loaded
    with _lock:
        if updated is None:
            _known.pop(name, None)
        else:
            _known[name] = updated
        _loaded = True
    start()


def _reload_rows() -> None:
    from tools.federation.models import RemoteServer
    from tools.federation.services import remote_server_forget

    rows = dict(RemoteServer.objects.values_list("name", "updated"))
    with _lock:
        known = dict(_known)
        _known.clear()
        _known.update(rows)
    for name, updated in rows.items():
        if known.get(name) != updated:
            schedule_sync(name)
    for name in set(known) - set(rows):
        remote_server_forget(name=name, server_id=None)


def _check_all() -> None:
    from tools.federation.models import RemoteServer

    for name in RemoteServer.objects.filter(enabled=True).values_list("name", flat=True):
        schedule_check(name)


def _run_monitor() -> None:
    last_reload = time.monotonic()
    # The first check comes soon, but not at once: a short management command that only
    # read the registry should not start remote servers on its way out.
    last_check = last_reload - max(0.0, settings.FEDERATION_HEALTH_INTERVAL - FIRST_CHECK_AFTER)
    while not _stop.wait(0.25):
        now = time.monotonic()
        try:
            reload_every = settings.FEDERATION_RELOAD_INTERVAL
            if reload_every > 0 and now - last_reload >= reload_every:
                last_reload = now
                _reload_rows()
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
    global _monitor
    with _lock:
        if _monitor is not None and _monitor.is_alive():
            return
        _stop.clear()
        _monitor = threading.Thread(target=_run_monitor, name="federation-monitor", daemon=True)
        _monitor.start()


def stop() -> None:
    global _monitor
    _stop.set()
    if _monitor is not None:
        _monitor.join(2)
    _monitor = None


def reset() -> None:
    """Forget what this process loaded (tests start each case from the database)."""
    global _loaded, _next_look
    stop()
    deadline = time.monotonic() + 10
    while _pending and time.monotonic() < deadline:
        time.sleep(0.05)
    with _lock:
        _pending.clear()
        _loaded = False
        _next_look = 0.0
        _known.clear()
