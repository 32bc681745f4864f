"""Remote server services: create, sync, check, remove. Commands, admin and signals call these."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import transaction
from django.utils import timezone

from tools.federation import state
from tools.federation.models import RemoteServer
from tools.federation.pool import RemoteUnavailable, ServerConfig, drop_pool, pool_for, run_sync
from tools.federation.remote_tools import RemoteTool
from tools.registry import registry

logger = logging.getLogger(__name__)

_local = threading.local()


class FederationError(Exception):
    """A remote server could not be reached or used; the message says why."""


@contextmanager
def signals_quiet() -> Iterator[None]:
    """Saves inside sync themselves; the row-change signal then only registers tools."""
    previous = getattr(_local, "quiet", False)
    _local.quiet = True
    try:
        yield
    finally:
        _local.quiet = previous


def signals_are_quiet() -> bool:
    return getattr(_local, "quiet", False)


def get_client(server_id: int) -> Any:
    """The connection pool (a bounded set of MCP client sessions) of one remote server."""
    server = RemoteServer.objects.get(pk=server_id)
    return pool_for(ServerConfig.from_server(server), on_list_changed=state.list_changed)


def remote_server_tools(*, server: RemoteServer) -> list[RemoteTool]:
    config = ServerConfig.from_server(server)
    tools = []
    for raw in server.tools:
        if isinstance(raw, dict) and isinstance(raw.get("name"), str) and raw["name"]:
            tools.append(RemoteTool(config, raw))
    return tools


def remote_server_register(*, server: RemoteServer) -> None:
    """Put the server's stored listing in the registry (nothing while it is disabled)."""
    state.set_health(server.name, server.healthy, server.last_error, notify=False)
    registry.replace_source(server.name, remote_server_tools(server=server) if server.enabled else [])


def _record_failure(server: RemoteServer, error: str) -> None:
    RemoteServer.objects.filter(pk=server.pk).update(healthy=False, last_error=error[:2000], last_checked=timezone.now())
    server.refresh_from_db()
    state.set_health(server.name, False, error)


def _probe(server: RemoteServer) -> tuple[list[dict[str, Any]], str]:
    config = ServerConfig.from_server(server)
    pool = pool_for(config, on_list_changed=state.list_changed)
    try:
        tools, version = run_sync(pool.list_tools(force=True), timeout=config.timeout * 2 + 5)
    except (RemoteUnavailable, TimeoutError) as exc:
        raise FederationError(str(exc)) from None
    return [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools], version


def remote_server_sync(*, server: RemoteServer, register_always: bool = True) -> RemoteServer:
    """Connect, fetch the tool listing, store it and register the tools.

    Raises ``FederationError`` when the server cannot be reached; it is then marked
    unhealthy and its stored tools stay listed as unavailable.
    """
    if not server.enabled:
        registry.replace_source(server.name, [])
        raise FederationError(f"Remote server {server.name!r} is disabled.")
    before_tools, before_healthy = server.tools, server.healthy
    try:
        tools, version = _probe(server)
    except FederationError as exc:
        _record_failure(server, str(exc))
        if register_always:
            remote_server_register(server=server)
        raise FederationError(f"Remote server {server.name!r} is unreachable: {exc}") from None
    server = remote_server_store_listing(server=server, tools=tools, protocol_version=version, register=False)
    if register_always or tools != before_tools:
        remote_server_register(server=server)
    elif before_healthy is not True:
        state.set_health(server.name, True)
    else:
        state.set_health(server.name, True, notify=False)
    return server


def remote_server_store_listing(
    *, server: RemoteServer, tools: list[dict[str, Any]], protocol_version: str, register: bool = True
) -> RemoteServer:
    """Keep a listing the server answered with (so it is healthy) and, by default, register it."""
    now = timezone.now()
    RemoteServer.objects.filter(pk=server.pk).update(
        tools=tools, healthy=True, last_error="", last_checked=now, last_synced=now, protocol_version=protocol_version
    )
    server.refresh_from_db()
    if register:
        remote_server_register(server=server)
    return server


def remote_server_check(*, server: RemoteServer) -> RemoteServer:
    """Health check: the same probe as a sync; tools are re-registered only if they changed."""
    try:
        return remote_server_sync(server=server, register_always=False)
    except FederationError:
        return server


def _parse_header(text: str) -> tuple[str, str]:
    key, sep, value = text.partition(":")
    if not sep or not key.strip():
        raise FederationError(f"Bad header {text!r}; use 'Name: value'.")
    return key.strip(), value.strip()


def remote_server_create(
    *,
    name: str,
    url: str = "",
    command: str = "",
    headers: list[str] | dict[str, str] | None = None,
    secret: str = "",
    timeout: float | None = None,
    max_connections: int | None = None,
) -> RemoteServer:
    """Validate and save a new remote server (not synced yet; see ``remote_server_sync``)."""
    from django.core.exceptions import ValidationError

    if bool(url) == bool(command):
        raise FederationError("Give either --url (Streamable HTTP) or --command (stdio), not both.")
    if isinstance(headers, list):
        headers = dict(_parse_header(h) for h in headers)
    server = RemoteServer(
        name=name,
        transport=RemoteServer.Transport.STREAMABLE_HTTP if url else RemoteServer.Transport.STDIO,
        url=url,
        command=command,
        headers=headers or {},
        secret=secret,
    )
    if timeout is not None:
        server.timeout = timeout
    if max_connections is not None:
        server.max_connections = max_connections
    try:
        server.full_clean()
    except ValidationError as exc:
        messages = "; ".join(f"{field}: {' '.join(errs)}" for field, errs in exc.message_dict.items())
        raise FederationError(messages) from None
    with signals_quiet(), transaction.atomic():
        server.save()
    return server


def remote_server_delete(*, server: RemoteServer) -> None:
    name, pk = server.name, server.pk
    with signals_quiet():
        server.delete()
    remote_server_forget(name=name, server_id=pk)


def remote_server_forget(*, name: str, server_id: int | None) -> None:
    registry.replace_source(name, [])
    state.forget(name)
    if server_id is not None:
        drop_pool(server_id)
