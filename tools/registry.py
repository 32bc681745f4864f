"""The one tool registry every front door reads.

Built-ins register when the ``tools`` app is ready; federation adds and removes
remote tools at run time. Any change to the set of tools, or to a ``ToolConfig``,
calls the listeners (the MCP server sends ``notifications/tools/list_changed``, the
WebSocket consumer sends ``tools_changed``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from mcpsite.listeners import Listeners
from tools.base import Tool

logger = logging.getLogger(__name__)

Listener = Callable[[], None]
# Called before each read; a loader does its own once-only bookkeeping and must be cheap
# (federation registers the stored remote tools on the first read).
Loader = Callable[[], None]


class DuplicateTool(Exception):
    pass


class ToolRegistry:
    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}
        self._listeners: Listeners[[]] = Listeners("tools-changed")
        self._loaders: list[Loader] = []
        self._lock = threading.RLock()

    def register(self, tool: Tool | type[Tool], *, replace: bool = False) -> Tool:
        instance = tool() if isinstance(tool, type) else tool
        if not instance.name:
            raise ValueError(f"{type(instance).__name__} has no name")
        with self._lock:
            if instance.name in self._tools and not replace:
                raise DuplicateTool(instance.name)
            self._tools[instance.name] = instance
        self.notify_changed()
        return instance

    def unregister(self, name: str) -> None:
        with self._lock:
            removed = self._tools.pop(name, None)
        if removed is not None:
            self.notify_changed()

    def replace_source(self, source: str, tools: Iterable[Tool]) -> None:
        """Swap every tool of one source (a remote server) for a new set, notifying once."""
        with self._lock:
            for name in [n for n, t in self._tools.items() if t.source == source]:
                del self._tools[name]
            for tool in tools:
                self._tools[tool.name] = tool
        self.notify_changed()

    def add_loader(self, loader: Loader) -> None:
        with self._lock:
            if loader not in self._loaders:
                self._loaders.append(loader)

    def clear_loaders(self) -> None:
        """Forget every loader (a tool process, which must not read the database)."""
        with self._lock:
            self._loaders.clear()

    def _load(self) -> None:
        for loader in self._loaders:
            try:
                loader()
            except Exception:  # a broken loader must not take the built-ins down with it
                logger.exception("tool loader failed")

    def get(self, name: str) -> Tool | None:
        self._load()
        return self._tools.get(name)

    def all(self) -> list[Tool]:
        self._load()
        with self._lock:
            return sorted(self._tools.values(), key=lambda t: t.name)

    def names(self) -> list[str]:
        return [t.name for t in self.all()]

    def add_listener(self, listener: Listener) -> None:
        self._listeners.add(listener)

    def remove_listener(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    def notify_changed(self) -> None:
        self._listeners.notify()


registry = ToolRegistry()
