"""Extra MCP providers: tools, prompts and resources served beside the hub's own.

The MCP server composes its items from providers instead of special-casing where an
item came from. The hub's own prompts (the ``Prompt`` model) and resources (the
caller's executions) are built in; ``MCP_EXTRA_PROVIDERS`` names more, as dotted paths
to ``Provider`` instances (or classes), loaded once when the tools app is ready. Their
tools go into the registry and run through the execution service like every other
tool. The test suite uses this for the conformance suite's fixtures
(``tests/mcp_server/conformance_fixtures.py``), so no fixture lives in production code.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from tools.base import ClientInput, Tool

# Called by a provider whose prompt or resource list changed (any thread).
ChangeListener = Callable[[str], None]


class Provider:
    """What a provider may contribute; every method has an empty default.

    ``ask`` (given to ``get_prompt`` and ``read_resource``) asks the caller's client
    questions the same way a tool's ``ctx.ask_client_many`` does (MCP 2026-07-28 input
    requests, or server requests on 2025-11-25 sessions); None where the door has none.
    """

    name = ""

    def tools(self) -> list[type[Tool] | Tool]:
        return []

    def prompts(self) -> list[dict[str, Any]]:
        """MCP ``Prompt`` objects (wire shape)."""
        return []

    def get_prompt(self, name: str, arguments: dict[str, str], ask: ClientInput | None) -> dict[str, Any] | None:
        """A ``GetPromptResult`` (wire shape), or None when the prompt is not this provider's."""
        return None

    def complete(self, prompt: str, argument: str) -> list[str] | None:
        """Completion values for a prompt's argument, or None when the prompt is not this provider's."""
        return None

    def resources(self) -> list[dict[str, Any]]:
        return []

    def resource_templates(self) -> list[dict[str, Any]]:
        return []

    def read_resource(self, uri: str, ask: ClientInput | None) -> list[dict[str, Any]] | None:
        """The resource's contents (wire shape), or None when the URI is not this provider's."""
        return None


_loaded: list[Provider] | None = None
_lock = threading.Lock()
_listeners: list[ChangeListener] = []


def extra_providers() -> list[Provider]:
    """The providers ``MCP_EXTRA_PROVIDERS`` names, imported once."""
    global _loaded
    with _lock:
        if _loaded is None:
            loaded = []
            for path in getattr(settings, "MCP_EXTRA_PROVIDERS", []):
                try:
                    provider = import_string(path)
                except ImportError as exc:
                    raise ImproperlyConfigured(f"MCP_EXTRA_PROVIDERS: cannot import {path!r}: {exc}") from exc
                if isinstance(provider, type):
                    provider = provider()
                if not isinstance(provider, Provider):
                    raise ImproperlyConfigured(f"MCP_EXTRA_PROVIDERS: {path!r} is not a mcp_server.providers.Provider.")
                loaded.append(provider)
            _loaded = loaded
        return _loaded


def register_provider_tools() -> None:
    from tools.registry import registry

    for provider in extra_providers():
        for tool in provider.tools():
            registry.register(tool, replace=True)


def add_change_listener(listener: ChangeListener) -> None:
    _listeners.append(listener)


def remove_change_listener(listener: ChangeListener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def notify_changed(kind: str) -> None:
    """A provider's ``kind`` list ("prompts" or "resources") changed: tell the MCP servers."""
    for listener in list(_listeners):
        listener(kind)
