"""Providers: where the MCP server's prompts and resources (and extra tools) come from.

The server composes what it lists and serves from an ordered set of providers instead of
special-casing where an item came from, as the registry does for tools. The hub's own
are built in (``mcp_server.builtin``): the ``Prompt`` rows operators edit in the admin,
and the caller's executions as ``execution://{id}`` resources. ``MCP_EXTRA_PROVIDERS``
names more, as dotted paths to ``Provider`` instances (or classes); their tools go into
the registry and run through the execution service like every other tool. The test
suite adds the conformance suite's fixtures this way
(``tests/mcp_server/conformance_fixtures.py``), so no fixture lives in production code.

Every method is a coroutine, called on the server's event loop: a provider that reads
the database wraps that in ``database_sync_to_async``.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from mcp_server.caller import Caller
from mcpsite.listeners import Listeners
from tools.base import ClientInput, Tool

# Told (from any thread) that a provider's "prompts" or "resources" list changed.
ChangeListener = Callable[[str], None]


class ResourceNotFound(Exception):
    """The URI is the provider's, but there is no such resource for this caller (someone
    else's answers like a missing one)."""


class Provider:
    """What a provider may contribute; every method has an empty default.

    Lookups by name or URI answer None when the item is not this provider's, so the
    server asks the next one. ``ask`` (given to ``get_prompt``)
    asks the caller's client questions the way a tool's ``ctx.ask_client_many`` does
    (MCP 2026-07-28 input requests); None where the door has no way to ask.
    """

    name = ""

    @functools.cached_property
    def _listeners(self) -> Listeners[[str]]:
        # Made on first use, so a provider's own __init__ need not call this class's.
        return Listeners(f"{self.name or type(self).__name__} provider")

    # --- tools (registered once, when the app is ready) ----------------------------------

    def tools(self) -> list[type[Tool] | Tool]:
        return []

    # --- prompts -------------------------------------------------------------------------

    async def list_prompts(self, caller: Caller) -> list[dict[str, Any]]:
        """MCP ``Prompt`` objects (wire shape)."""
        return []

    async def get_prompt(
        self, name: str, arguments: dict[str, str], caller: Caller, ask: ClientInput | None
    ) -> dict[str, Any] | None:
        """A ``GetPromptResult`` (wire shape)."""
        return None

    async def complete(self, prompt: str, argument: str) -> list[str] | None:
        """Every completion value of a prompt's argument (the server filters by what was typed)."""
        return None

    # --- resources -----------------------------------------------------------------------

    async def list_resources(self, caller: Caller) -> list[dict[str, Any]]:
        return []

    async def list_resource_templates(self, caller: Caller) -> list[dict[str, Any]]:
        return []

    async def read_resource(self, uri: str, caller: Caller) -> list[dict[str, Any]] | None:
        """The resource's contents (wire shape); raises ``ResourceNotFound`` for a URI of
        this provider that the caller cannot read."""
        return None

    async def watch_resource(self, uri: str, caller: Caller) -> Awaitable[object] | None:
        """For ``resources/subscribe``: something to await that ends when the resource
        changes next, or None when it will not (or the URI is not this provider's).
        Raises ``ResourceNotFound`` like ``read_resource``."""
        return None

    # --- change announcements ------------------------------------------------------------

    def add_listener(self, listener: ChangeListener) -> None:
        self._listeners.add(listener)

    def remove_listener(self, listener: ChangeListener) -> None:
        self._listeners.remove(listener)

    def changed(self, kind: str) -> None:
        """This provider's ``kind`` list changed (any thread). Only "prompts" is announced
        to clients; a resource list is the caller's own and changes with every call."""
        self._listeners.notify(kind)


class Providers:
    """The ordered providers one process serves: the built-in ones, then the extra ones.

    Made once by the app config (``McpServerConfig.providers``); each ``HubServer``
    listens to every provider for list changes.
    """

    def __init__(self, providers: list[Provider]) -> None:
        self._providers = list(providers)

    def __iter__(self) -> Iterator[Provider]:
        return iter(self._providers)

    def register_tools(self) -> None:
        from tools.registry import registry

        for provider in self._providers:
            for tool in provider.tools():
                registry.register(tool, replace=True)

    def add_listener(self, listener: ChangeListener) -> None:
        for provider in self._providers:
            provider.add_listener(listener)

    def remove_listener(self, listener: ChangeListener) -> None:
        for provider in self._providers:
            provider.remove_listener(listener)


def load_providers(paths: list[str]) -> list[Provider]:
    """The providers named by dotted paths (``MCP_EXTRA_PROVIDERS``), instantiated."""
    loaded = []
    for path in paths:
        try:
            provider = import_string(path)
        except ImportError as exc:
            raise ImproperlyConfigured(f"MCP_EXTRA_PROVIDERS: cannot import {path!r}: {exc}") from exc
        if isinstance(provider, type):
            provider = provider()
        if not isinstance(provider, Provider):
            raise ImproperlyConfigured(f"MCP_EXTRA_PROVIDERS: {path!r} is not a mcp_server.providers.Provider.")
        loaded.append(provider)
    return loaded


def installed_providers() -> Providers:
    """This process's providers, made when the app was ready."""
    from django.apps import apps

    config = apps.get_app_config("mcp_server")
    return config.providers  # type: ignore[attr-defined]
