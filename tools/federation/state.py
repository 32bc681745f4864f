"""This process's view of each remote server's health (what ``RemoteTool.available`` reads).

Seeded from the row's stored last health, then kept current by checks, syncs and
failed calls. A change of availability is told to ``on_change`` (the registry's
listeners, so that clients re-list and see the tools (un)available).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Health:
    healthy: bool | None = None  # None: not checked yet (callers may try)
    error: str = ""


class HealthTable:
    def __init__(self, on_change: Callable[[], None]) -> None:
        self._on_change = on_change
        self._health: dict[str, Health] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Health:
        return self._health.get(name, Health())

    def set(self, name: str, healthy: bool | None, error: str = "", *, notify: bool = True) -> bool:
        """Record a server's health; return whether its availability changed."""
        with self._lock:
            before = self._health.get(name, Health())
            self._health[name] = Health(healthy=healthy, error=error)
        changed = (before.healthy is False) != (healthy is False)
        if changed and notify:
            self._on_change()
        return changed

    def forget(self, name: str) -> None:
        with self._lock:
            self._health.pop(name, None)
