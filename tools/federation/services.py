"""Remote server services: create, sync, check, remove. Commands, admin and signals call these."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from tools.federation import approvals, oauth
from tools.federation.hub import federation
from tools.federation.models import RemoteServer, tool_offered
from tools.federation.pool import Listing, RemoteUnavailable, ServerConfig, ServerPool
from tools.federation.remote_tools import RemoteTool
from tools.federation.secrets import Sealed
from tools.registry import registry

logger = logging.getLogger(__name__)


class FederationError(Exception):
    """A remote server could not be reached or used; the message says why."""


@contextmanager
def signals_quiet() -> Iterator[None]:
    """Saves inside sync themselves; the row-change signal then only registers tools."""
    local = federation().quiet
    previous = getattr(local, "on", False)
    local.on = True
    try:
        yield
    finally:
        local.on = previous


def signals_are_quiet() -> bool:
    return getattr(federation().quiet, "on", False)


def get_client(server_id: int) -> ServerPool:
    """The connection pool (a bounded set of MCP client sessions) of one remote server."""
    server = RemoteServer.objects.get(pk=server_id)
    return federation().pools.pool_for(ServerConfig.from_server(server))


def remote_server_tools(*, server: RemoteServer) -> list[RemoteTool]:
    """The server's tools as callers see them: filtered by its allow/deny lists, and a
    tool whose definition changed since approval listed with the approved one, held."""
    config = ServerConfig.from_server(server)
    holding = {} if server.auto_approve else approvals.held(server.tools, server.approved_tools)
    tools = []
    for raw in server.tools:
        if not (isinstance(raw, dict) and isinstance(raw.get("name"), str) and raw["name"]):
            continue
        if not tool_offered(raw["name"], allowed=server.allowed_tools or [], denied=server.denied_tools or []):
            continue
        if raw["name"] in holding:
            tools.append(RemoteTool(config, server.approved_tools[raw["name"]], held=holding[raw["name"]]))
        else:
            tools.append(RemoteTool(config, raw))
    return tools


def remote_server_held_tools(*, server: RemoteServer) -> dict[str, list[str]]:
    """Remote tool name -> the definition fields that changed since approval (not while auto-approving)."""
    return {} if server.auto_approve else approvals.held(server.tools, server.approved_tools)


def remote_server_approve(*, server: RemoteServer, names: list[str] | None = None) -> list[str]:
    """Approve the definitions the server offers now (all held tools, or ``names``)."""
    with federation().row_lock(server.name), transaction.atomic():
        server = RemoteServer.objects.select_for_update().get(pk=server.pk)
        held = approvals.held(server.tools, server.approved_tools)
        chosen = [n for n in held if names is None or n in names]
        if not chosen:
            return []
        offered = {t["name"]: t for t in server.tools if isinstance(t, dict) and isinstance(t.get("name"), str)}
        server.approved_tools = {**server.approved_tools, **{n: approvals.definition(offered[n]) for n in chosen}}
        # save(): other processes see the change by the row's updated time and re-register.
        with signals_quiet():
            server.save(update_fields=["approved_tools", "updated"])
    logger.info("remote tools approved on %s: %s", server.name, ", ".join(chosen))
    remote_server_register(server=server)
    return chosen


def remote_server_register(*, server: RemoteServer) -> None:
    """Put the server's stored listing in the registry (nothing while it is disabled)."""
    federation().health.set(server.name, server.healthy, server.last_error, notify=False)
    registry.replace_source(server.name, remote_server_tools(server=server) if server.enabled else [])


def remote_server_record_failure(*, name: str, error: str, observed_at: datetime | None = None) -> None:
    """Store that the server failed (a check, a sync or a call could not reach it).

    ``observed_at`` is when the failure was seen. A failure stored late (by a background
    job) never overwrites a check that reached the server after that moment.
    """
    observed_at = observed_at or timezone.now()
    with federation().row_lock(name):
        RemoteServer.objects.filter(name=name).filter(
            Q(last_checked__isnull=True) | Q(last_checked__lte=observed_at)
        ).update(healthy=False, last_error=error[:2000], last_checked=observed_at)


def _record_failure(server: RemoteServer, error: str) -> None:
    with federation().row_lock(server.name):
        remote_server_record_failure(name=server.name, error=error)
        server.refresh_from_db()
    federation().health.set(server.name, False, error)


def _probe(server: RemoteServer) -> Listing:
    config = ServerConfig.from_server(server)
    hub = federation()
    pool = hub.pools.pool_for(config)
    try:
        return hub.loop.run_sync(pool.list_tools(force=True), timeout=config.timeout * 2 + 5)
    except (RemoteUnavailable, TimeoutError) as exc:
        raise FederationError(str(exc)) from None


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
        listing = _probe(server)
    except FederationError as exc:
        with federation().row_lock(server.name):
            _record_failure(server, str(exc))
            if register_always:
                remote_server_register(server=server)
        raise FederationError(f"Remote server {server.name!r} is unreachable: {exc}") from None
    with federation().row_lock(server.name):  # registered as stored, not after a newer listing
        server = remote_server_store_listing(server=server, listing=listing, register=False)
        if register_always or server.tools != before_tools:
            remote_server_register(server=server)
        elif before_healthy is not True:
            federation().health.set(server.name, True)
        else:
            federation().health.set(server.name, True, notify=False)
    return server


def remote_server_store_listing(*, server: RemoteServer, listing: Listing, register: bool = True) -> RemoteServer:
    """Keep a listing the server answered with (so it is healthy) and, by default, register it.

    A listing older than the one stored by this process (a slow check that crossed a
    re-list after list_changed) only counts as a sign of health.
    """
    now = timezone.now()
    fields: dict[str, Any] = {"healthy": True, "last_error": "", "last_checked": now}
    hub = federation()
    with hub.row_lock(server.name):
        if listing.seq > hub.stored.get(server.name, 0):
            tools = [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in listing.tools]
            server.refresh_from_db(fields=["tools", "approved_tools", "auto_approve"])
            fields.update(
                tools=tools,
                approved_tools=approvals.review(
                    server=server.name, tools=tools, previous=server.tools,
                    approved=server.approved_tools, auto=server.auto_approve,
                ),
                last_synced=now,
                protocol_version=listing.protocol_version,
            )
            hub.stored[server.name] = listing.seq
        RemoteServer.objects.filter(pk=server.pk).update(**fields)
        server.refresh_from_db()
        if register:
            remote_server_register(server=server)
    return server


def remote_server_store_announced(*, name: str, listing: Listing) -> None:
    """Store and register the listing read after the server announced a change."""
    with federation().row_lock(name):
        server = RemoteServer.objects.filter(name=name).first()
        if server is None or not server.enabled:
            return
        remote_server_store_listing(server=server, listing=listing)


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
    secret_headers: list[str] | dict[str, str] | None = None,
    timeout: float | None = None,
    max_connections: int | None = None,
    allowed_tools: list[str] | None = None,
    denied_tools: list[str] | None = None,
    auto_approve: bool = False,
    oauth: bool = False,
    oauth_client_id: str = "",
    oauth_client_secret: str = "",
) -> RemoteServer:
    """Validate and save a new remote server (not synced yet; see ``remote_server_sync``)."""
    if bool(url) == bool(command):
        raise FederationError("Give either --url (Streamable HTTP) or --command (stdio), not both.")
    if isinstance(headers, list):
        headers = dict(_parse_header(h) for h in headers)
    if isinstance(secret_headers, list):
        secret_headers = dict(_parse_header(h) for h in secret_headers)
    server = RemoteServer(
        name=name,
        transport=RemoteServer.Transport.STREAMABLE_HTTP if url else RemoteServer.Transport.STDIO,
        url=url,
        command=command,
        headers=headers or {},
        secret=secret,
        secret_headers=secret_headers or {},
        allowed_tools=allowed_tools or [],
        denied_tools=denied_tools or [],
        auto_approve=auto_approve,
        oauth=oauth,
        oauth_client_id=oauth_client_id,
        oauth_client_secret=oauth_client_secret,
    )
    if oauth and command:
        raise FederationError("OAuth sign-in is for Streamable HTTP servers (--url).")
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
    hub = federation()
    registry.replace_source(name, [])
    hub.health.forget(name)
    with hub.row_lock(name):
        hub.stored.pop(name, None)
    if server_id is not None:
        hub.pools.drop(server_id)


def remote_server_secrets_rotate() -> tuple[int, list[str]]:
    """Store every server's secrets again, encrypted under the first configured key.

    Returns how many servers were re-encrypted and the names of those whose secrets no
    configured key opens (left as they are).
    """
    fields = ("secret", "secret_headers", "oauth_client_secret", "oauth_credentials")
    rotated, unreadable = 0, []
    for server in RemoteServer.objects.only("pk", "name", *fields):
        values = {name: getattr(server, name) for name in fields}
        if any(isinstance(value, Sealed) for value in values.values()):
            unreadable.append(server.name)
            continue
        if not any(values.values()):
            continue
        # update(): the values are encrypted afresh by the field; no signal, no resync.
        RemoteServer.objects.filter(pk=server.pk).update(**values)
        rotated += 1
    if rotated or unreadable:
        logger.info("federation secrets re-encrypted: %d server(s), %d unreadable", rotated, len(unreadable))
    return rotated, unreadable


def remote_server_sign_in(*, server: RemoteServer, redirect_uri: str, started_by: int | None = None) -> oauth.SignIn:
    """Start an OAuth sign-in to ``server``, the browser to come back to ``redirect_uri``.

    The sign-in runs on the federation loop: ``oauth.authorization_url(sign_in, sign_in.flow)``
    gives the URL to open; the callback hands its query to ``sign_in.give``; ``sign_in.flow``
    ends when the tokens are stored (then call ``remote_server_signed_in``).
    """
    if not server.oauth:
        raise FederationError(f"Remote server {server.name!r} does not sign in with OAuth (tick it first).")
    if server.transport != RemoteServer.Transport.STREAMABLE_HTTP:
        raise FederationError("OAuth sign-in is for Streamable HTTP servers.")
    config = ServerConfig.from_server(server)
    if config.error:
        raise FederationError(config.error)
    hub = federation()
    sign_in = oauth.SignIn(redirect_uri=redirect_uri, waiting=hub.sign_ins, started_by=started_by, server_id=server.pk)
    sign_in.flow = hub.loop.submit(oauth.connect(config, sign_in))
    return sign_in


def remote_server_sign_in_waiting(*, state: str) -> oauth.SignIn | None:
    """The sign-in of this process whose browser comes back with ``state``, if any."""
    return federation().sign_ins.get(state)


def remote_server_signed_in(*, server: RemoteServer) -> RemoteServer:
    """After a sign-in: new sessions start with the new tokens, and the tools are fetched."""
    federation().pools.drop(server.pk)
    logger.info("remote server %s: signed in with OAuth", server.name)
    return remote_server_sync(server=RemoteServer.objects.get(pk=server.pk))
