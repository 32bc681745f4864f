"""Federation's background jobs: a few daemon threads, so that a hanging remote never
holds up exit. A job is named by its kind and server; one of each is queued or running
at a time (what the jobs do is ``runtime``'s business)."""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import close_old_connections

logger = logging.getLogger(__name__)

JOB_THREADS = 4

Key = tuple[str, str]  # (kind, server name)


class Jobs:
    def __init__(self, threads: int = JOB_THREADS) -> None:
        self._threads = threads
        self._lock = threading.Lock()
        self._pending: set[Key] = set()
        self._items: dict[Key, Any] = {}  # what an ``offer`` job hands on next
        self._queue: queue.SimpleQueue[tuple[Key, Callable[[], None]] | None] = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            key, job = item
            try:
                job()
            except concurrent.futures.CancelledError:
                # The federation loop stopped under the job's wait: the hub is shutting down.
                logger.info("federation %s of %s stopped with the hub", *key)
            except Exception:
                logger.exception("federation %s of %s failed", *key)
            finally:
                with self._lock:
                    self._pending.discard(key)
                close_old_connections()

    def schedule(self, kind: str, name: str, job: Callable[[], None]) -> None:
        """Run ``job`` on a job thread, unless the same kind of job for ``name`` is already waiting."""
        key = (kind, name)
        with self._lock:
            if key in self._pending:
                return
            self._pending.add(key)
            while len(self._workers) < self._threads:
                worker = threading.Thread(target=self._work, name=f"federation-job-{len(self._workers)}", daemon=True)
                worker.start()
                self._workers.append(worker)
        self._queue.put((key, job))

    def offer(
        self, kind: str, name: str, item: Any, handle: Callable[[Any], None], *, replaces: Callable[[Any], bool]
    ) -> None:
        """Hand ``item`` to ``handle`` on a job thread; while it waits, a later offer takes its
        place when ``replaces(waiting)`` says so. Each item left waiting is handled in turn."""
        key = (kind, name)
        with self._lock:
            waiting = self._items.get(key)
            if waiting is None or replaces(waiting):
                self._items[key] = item

        def job() -> None:
            while True:
                with self._lock:
                    item = self._items.pop(key, None)
                    if item is None:
                        # Under the lock: an item offered after this is scheduled afresh.
                        self._pending.discard(key)
                        return
                handle(item)

        self.schedule(kind, name, job)

    def busy(self) -> bool:
        return bool(self._pending)

    def stop(self, wait: float) -> None:
        """Wait up to ``wait`` seconds for the jobs in hand, then end the job threads."""
        deadline = time.monotonic() + wait
        while self._pending and time.monotonic() < deadline:
            time.sleep(0.05)
        with self._lock:
            self._pending.clear()
            self._items.clear()
            workers, self._workers = self._workers, []
        for _ in workers:
            self._queue.put(None)
