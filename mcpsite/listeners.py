"""A thread-safe list of change listeners (the registry's, the MCP providers')."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Listeners[**P]:
    """Callbacks told about a change, from any thread; one that fails is logged and does
    not stop the others."""

    def __init__(self, what: str) -> None:
        self.what = what  # for the log: "tools-changed", ...
        self._listeners: list[Callable[P, None]] = []
        self._lock = threading.Lock()

    def add(self, listener: Callable[P, None]) -> None:
        with self._lock:
            self._listeners.append(listener)

    def remove(self, listener: Callable[P, None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def notify(self, *args: P.args, **kwargs: P.kwargs) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(*args, **kwargs)
            except Exception:
                logger.exception("%s listener failed", self.what)
