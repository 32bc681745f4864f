"""This process's view of each remote server's health (what ``RemoteTool.available`` reads).

Seeded from the row's stored last health, then kept current by checks, syncs and
failed calls. A change of health notifies the registry's listeners, so clients
re-list and see the tools (un)available.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tools.registry import registry

if TYPE_CHECKING:
    from tools.federation.pool import Listing


@dataclass(frozen=True)
class Health:
    healthy: bool | None = None  # None: not checked yet (callers may try)
    error: str = ""


_health: dict[str, Health] = {}
_lock = threading.Lock()


def get(name: str) -> Health:
    return _health.get(name, Health())


def set_health(name: str, healthy: bool | None, error: str = "", *, notify: bool = True) -> bool:
    """Record a server's health; return whether its availability changed."""
    with _lock:
        before = _health.get(name, Health())
        _health[name] = Health(healthy=healthy, error=error)
    changed = (before.healthy is False) != (healthy is False)
    if changed and notify:
        registry.notify_changed()
    return changed


def mark_failed(name: str, error: str) -> None:
    from tools.federation import runtime

    set_health(name, False, error)
    runtime.schedule_record_failure(name, error)


def forget(name: str) -> None:
    with _lock:
        _health.pop(name, None)


def list_changed(name: str, listing: Listing | None) -> None:
    """A remote server said its tool list changed (called on the federation loop)."""
    from tools.federation import runtime

    if listing is None:
        runtime.schedule_sync(name)
    else:
        runtime.schedule_listing(name, listing)
