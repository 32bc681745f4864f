"""The federation of this process: one object that holds all of its state.

``FederationConfig.ready`` makes it (nothing starts then: the loop thread, the pools,
the job threads and the monitor start on first use) and ``federation()`` reaches it;
tests get a fresh one (``FederationConfig.renew_hub``). What it holds:

- the event loop thread every client session lives on, and the pools of sessions;
- the health table of the remote servers (what the registry's tools read);
- the sign-ins waiting for their browser to come back;
- the background jobs, and what the loader and the monitor (``runtime``) know of the rows;
- the services' per-row locks and the newest listing each stored.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import cast

from django.apps import apps

from tools.federation.jobs import Jobs
from tools.federation.loop import FederationLoop
from tools.federation.oauth import SignIns
from tools.federation.pool import ListChanged, Pools
from tools.federation.state import HealthTable

# Seconds a shutdown waits for the background jobs in hand.
JOBS_WAIT_SECONDS = 10.0


class Federation:
    """``on_list_changed``: a server announced that its tools changed (on the loop).
    ``on_unreachable``: a call found a server unreachable (its health is set failing here).
    ``on_health_changed``: a server's availability changed."""

    def __init__(
        self,
        *,
        on_list_changed: ListChanged,
        on_unreachable: Callable[[str, str], None],
        on_health_changed: Callable[[], None],
    ) -> None:
        self.loop = FederationLoop()
        self.pools = Pools(self.loop, on_list_changed=on_list_changed)
        self.health = HealthTable(on_change=on_health_changed)
        self.sign_ins = SignIns()
        self.jobs = Jobs()
        self._on_unreachable = on_unreachable

        # The loader and the monitor (runtime): what this process has loaded of the rows.
        self.lock = threading.Lock()
        self.loading = threading.local()  # the registry read that loads, on its thread
        self.loaded = False
        self.next_look = 0.0  # monotonic time of the next look at an empty table
        self.known: dict[str, object] = {}  # name -> updated, of the rows this process knows
        self.monitor: threading.Thread | None = None
        self.monitor_stop = threading.Event()

        # The services: one writer at a time per server row in this process (a sync's
        # answer, a re-list after list_changed and a failed call may all land at once), and
        # the number of the newest listing stored of each server (``pool.Listing.seq``).
        self._row_locks: dict[str, threading.RLock] = {}
        self._row_locks_guard = threading.Lock()
        self.stored: dict[str, int] = {}
        # Per thread: saves by the services themselves (see services.signals_quiet).
        self.quiet = threading.local()

    def row_lock(self, name: str) -> threading.RLock:
        with self._row_locks_guard:
            return self._row_locks.setdefault(name, threading.RLock())

    def unreachable(self, name: str, error: str) -> None:
        """A call could not reach the server: it is failing from now on."""
        self.health.set(name, False, error)
        self._on_unreachable(name, error)

    def stop_monitor(self) -> None:
        self.monitor_stop.set()
        monitor, self.monitor = self.monitor, None
        if monitor is not None:
            monitor.join(2)

    def shutdown(self) -> None:
        """Stop the monitor, close every session, stop the loop and the job threads (at
        process exit, and in tests). Jobs left waiting meet closed pools and end soon."""
        self.stop_monitor()
        self.pools.shutdown()
        self.jobs.stop(wait=JOBS_WAIT_SECONDS)
        # A job that ran meanwhile may have opened a pool again.
        self.pools.shutdown()


def federation() -> Federation:
    """This process's federation."""
    return cast(Federation, apps.get_app_config("federation").hub)  # type: ignore[attr-defined]
