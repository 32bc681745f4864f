"""OAuth 2.1 sign-in to remote MCP servers, with the SDK's client (``OAuthClientProvider``).

The SDK's provider does the protocol: protected-resource and authorization-server
discovery (RFC 9728, RFC 8414, OpenID), a client ID metadata document or dynamic
registration, PKCE, scopes from ``WWW-Authenticate`` and step-up on 403, refresh, the
``iss`` check (RFC 9207). This module gives it what the hub has to give:

- storage on the server's row (``RemoteServer.oauth_credentials``, encrypted at rest),
  with the access token's expiry, so that a restarted process refreshes in time instead
  of meeting a 401 it could only answer by asking a person;
- a person, when there is one: ``connect`` runs the browser step for the admin's
  "Connect" button (the hub's own callback URL) and for ``mcp_servers add --oauth`` /
  ``mcp_servers connect`` (a loopback callback, RFC 8252);
- no person in pooled sessions: when a server wants a new authorization there, the call
  fails with a message that says how to connect it again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import html
import logging
import queue
import threading
import time
from collections.abc import AsyncGenerator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import mcp_types as types
from django.conf import settings
from django.db import close_old_connections, transaction
from mcp import Client
from mcp.client.auth import OAuthClientProvider, OAuthFlowError
from mcp.client.auth.utils import union_scopes
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthMetadata,
    OAuthToken,
    ProtectedResourceMetadata,
)
from pydantic import AnyUrl

from tools.federation.models import RemoteServer
from tools.federation.secrets import Sealed

logger = logging.getLogger(__name__)

CLIENT_NAME = "mcpsite"
# Path of the hub's callback for sign-ins started in the admin (see tools.federation.admin),
# and of the loopback callback of the command.
CALLBACK_PATH = "/federation/oauth/callback"
LOOPBACK_CALLBACK = f"http://127.0.0.1{CALLBACK_PATH}"
# Path where the hub serves its client ID metadata document (see client_metadata_document).
CLIENT_METADATA_PATH = "/federation/oauth-client.json"
# Seconds a person has to sign in and consent.
SIGN_IN_SECONDS = 600.0
# Seconds discovery and registration may take before the authorization URL is known.
DISCOVERY_SECONDS = 60.0


class SignInNeeded(OAuthFlowError):
    """The server wants a (new) authorization, and no person is at hand to give it."""


def client_metadata_url() -> str | None:
    """The hub's client ID (an https URL of its metadata document), or None: register instead.

    ``FEDERATION_OAUTH_CLIENT_METADATA_URL`` when set; else derived from ``MCP_PUBLIC_URL``
    when that is https (authorization servers fetch the document from there).
    """
    configured = getattr(settings, "FEDERATION_OAUTH_CLIENT_METADATA_URL", "")
    if configured:
        return configured
    public = getattr(settings, "MCP_PUBLIC_URL", "").rstrip("/")
    if public.startswith("https://"):
        parts = urlsplit(public)
        return f"{parts.scheme}://{parts.netloc}{CLIENT_METADATA_PATH}"
    return None


def client_metadata_document(callback_url: str) -> dict[str, Any]:
    """The document served at the client ID URL (draft-ietf-oauth-client-id-metadata-document).

    ``callback_url`` is the admin's callback on this hub; the loopback one is listed
    without a port, which authorization servers ignore for loopback redirects (RFC 8252).
    """
    return {
        "client_id": client_metadata_url(),
        "client_name": CLIENT_NAME,
        "redirect_uris": [callback_url, LOOPBACK_CALLBACK],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    }


# --- Storage on the row -----------------------------------------------------------------


def _load(server_id: int) -> dict[str, Any]:
    try:
        credentials = RemoteServer.objects.filter(pk=server_id).values_list("oauth_credentials", flat=True).first()
    finally:
        close_old_connections()
    if not credentials or isinstance(credentials, Sealed):
        return {}
    return dict(credentials)


def _store(server_id: int, **changes: Any) -> None:
    try:
        with transaction.atomic():
            row = RemoteServer.objects.select_for_update().filter(pk=server_id).only("pk", "oauth_credentials").first()
            if row is None:
                return
            credentials = {} if isinstance(row.oauth_credentials, Sealed) else dict(row.oauth_credentials or {})
            credentials.update(changes)
            # update(): the field encrypts the value; no signal, so the pool is not replaced.
            RemoteServer.objects.filter(pk=server_id).update(oauth_credentials=credentials)
    finally:
        close_old_connections()


@dataclass
class RowStorage:
    """The SDK's ``TokenStorage`` on a server's row, read and written off the event loop.

    ``client_id``/``client_secret``: a client the operator registered by hand; it is used
    as given and never replaced by a registration.
    """

    server_id: int
    # Where a sign-in's browser comes back to; None for pooled sessions (they only refresh,
    # and a refresh is made with the registration whatever its redirect URIs).
    redirect_uri: str | None
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    # A sign-in starts without the stored tokens (they would be tried and refreshed first),
    # and replaces them only when it succeeds: a sign-in given up loses nothing.
    fresh: bool = False
    expires_at: float | None = None
    # What the sign-in discovered (authorization server and its metadata), as stored.
    discovered: dict[str, Any] = field(default_factory=dict)

    async def get_tokens(self) -> OAuthToken | None:
        if self.fresh:
            return None
        credentials = await asyncio.to_thread(_load, self.server_id)
        self.expires_at = credentials.get("expires_at")
        self.discovered = credentials.get("discovered") or {}
        tokens = credentials.get("tokens")
        return OAuthToken.model_validate(tokens) if tokens else None

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.expires_at = time.time() + tokens.expires_in if tokens.expires_in else None
        await asyncio.to_thread(
            _store, self.server_id, tokens=tokens.model_dump(mode="json", exclude_none=True),
            expires_at=self.expires_at, connected_at=time.time(),
        )

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        if self.client_id:
            return OAuthClientInformationFull(
                client_id=self.client_id,
                client_secret=self.client_secret or None,
                redirect_uris=[AnyUrl(self.redirect_uri or LOOPBACK_CALLBACK)],
                token_endpoint_auth_method="client_secret_basic" if self.client_secret else "none",
            )
        credentials = await asyncio.to_thread(_load, self.server_id)
        stored = credentials.get("client")
        if not stored:
            return None
        info = OAuthClientInformationFull.model_validate(stored)
        # A registration holds the redirect URIs it was made with; a sign-in through
        # another callback (the admin's, or another loopback port) registers afresh.
        if (
            self.redirect_uri
            and info.redirect_uris
            and self.redirect_uri not in {str(uri) for uri in info.redirect_uris}
            and not _is_metadata_url(info.client_id)
        ):
            return None
        return info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        if self.client_id:
            return
        await asyncio.to_thread(_store, self.server_id, client=client_info.model_dump(mode="json", exclude_none=True))


def _is_metadata_url(client_id: str | None) -> bool:
    return bool(client_id) and client_id == client_metadata_url()


# --- The provider -------------------------------------------------------------------------


class HubOAuthProvider(OAuthClientProvider):
    """The SDK's provider, with the stored expiry restored and other processes' refreshes seen."""

    storage: RowStorage

    def __init__(
        self, config: Any, storage: RowStorage, *, wanted_scope: str | None = None, not_signed_in: str = "",
        **handlers: Any,
    ) -> None:
        self.storage = storage
        # Pooled sessions: the message to fail with when no sign-in was ever stored (no
        # request is sent then: discovery and a registration would be for nothing).
        self.not_signed_in = not_signed_in
        # Scopes a call was refused for (403 insufficient_scope) in a pooled session, to be
        # asked for at this sign-in besides what the server's challenge names.
        self.wanted_scope = wanted_scope
        super().__init__(
            server_url=config.url,
            client_metadata=OAuthClientMetadata(
                client_name=CLIENT_NAME,
                redirect_uris=[AnyUrl(storage.redirect_uri or LOOPBACK_CALLBACK)],
                grant_types=["authorization_code", "refresh_token"],
                response_types=["code"],
                token_endpoint_auth_method="client_secret_basic" if storage.client_secret else "none",
            ),
            storage=storage,
            client_metadata_url=None if storage.client_id else client_metadata_url(),
            **handlers,
        )

    async def _initialize(self) -> None:
        await super()._initialize()
        # The SDK counts a token's lifetime from when it received it; after a restart it
        # would not know, use an expired token and meet a 401 (which only a person can
        # answer). The stored expiry lets it refresh first.
        self.context.token_expiry_time = self.storage.expires_at
        # Nor would it know the token endpoint (it guesses <origin>/token): restore what the
        # sign-in discovered.
        discovered = self.storage.discovered
        if discovered and self.context.oauth_metadata is None:
            self.context.auth_server_url = discovered.get("auth_server_url")
            if discovered.get("authorization_server"):
                self.context.oauth_metadata = OAuthMetadata.model_validate(discovered["authorization_server"])
            if discovered.get("protected_resource"):
                self.context.protected_resource_metadata = ProtectedResourceMetadata.model_validate(
                    discovered["protected_resource"]
                )

    def discovered(self) -> dict[str, Any]:
        context = self.context
        return {
            "auth_server_url": context.auth_server_url,
            "authorization_server": context.oauth_metadata.model_dump(mode="json", exclude_none=True)
            if context.oauth_metadata else None,
            "protected_resource": context.protected_resource_metadata.model_dump(mode="json", exclude_none=True)
            if context.protected_resource_metadata else None,
        }

    async def _perform_authorization(self) -> httpx2.Request:
        # The SDK has chosen the scope from the challenge (step 3); a step-up that a pooled
        # session met and stored is added (SEP-2350: the union, never fewer scopes).
        if self.wanted_scope:
            self.context.client_metadata.scope = union_scopes(self.context.client_metadata.scope, self.wanted_scope)
        return await super()._perform_authorization()

    async def _auth_flow(self, request: httpx2.Request) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        if self._initialized and not self.context.is_token_valid():
            # Another process may have refreshed already (and the authorization server may
            # rotate refresh tokens): read the row again before refreshing here.
            self._initialized = False
        if self.not_signed_in:
            if not self._initialized:
                async with self.context.lock:
                    await self._initialize()
            if self.context.current_tokens is None:
                raise SignInNeeded(self.not_signed_in)
        flow = super()._auth_flow(request)
        try:
            outgoing = await anext(flow)
            while True:
                incoming = yield outgoing
                outgoing = await flow.asend(incoming)
        except StopAsyncIteration:
            return
        finally:
            await flow.aclose()  # in this task: the SDK's flow holds a lock it must release here


def pooled_auth(config: Any) -> HubOAuthProvider:
    """The provider of a pool's sessions: refreshes on its own, never asks a person."""

    how = f"press Connect on its admin page, or run `manage.py mcp_servers connect {config.name}`"

    async def no_person(url: str) -> None:
        scope = provider.context.client_metadata.scope
        stored = await asyncio.to_thread(_load, config.id)
        granted = (stored.get("tokens") or {}).get("scope")
        if stored.get("tokens") and scope and not set(scope.split()) <= set((granted or "").split()):
            # A step-up (403 insufficient_scope): the next sign-in asks for these too.
            await asyncio.to_thread(_store, config.id, wanted_scope=scope)
            raise SignInNeeded(f"remote server {config.name!r} wants a wider OAuth scope ({scope}): {how}")
        raise SignInNeeded(provider.not_signed_in)

    async def no_callback() -> AuthorizationCodeResult:  # never reached: no_person raised
        raise SignInNeeded("no sign-in in progress")

    storage = RowStorage(
        config.id, redirect_uri=None,
        client_id=config.oauth_client_id, client_secret=config.oauth_client_secret,
    )
    provider = HubOAuthProvider(
        config, storage, redirect_handler=no_person, callback_handler=no_callback,
        not_signed_in=f"remote server {config.name!r} needs a new OAuth sign-in: {how}",
    )
    return provider


# --- Signing in with a person -----------------------------------------------------------


class SignIns:
    """The sign-ins of this process waiting for their callback, by OAuth state."""

    def __init__(self) -> None:
        self._by_state: dict[str, SignIn] = {}

    def get(self, state: str) -> SignIn | None:
        return self._by_state.get(state)

    def add(self, sign_in: SignIn) -> None:
        self._by_state[sign_in.state] = sign_in

    def discard(self, state: str) -> None:
        self._by_state.pop(state, None)


@dataclass
class SignIn:
    """One sign-in in progress: each authorization URL as it comes, then the person's answer.

    Usually one round; a server that moves to another authorization server during the
    flow (or one that asks again) makes more, each with its own state.
    """

    redirect_uri: str
    # Where the callback finds it by its state while it waits.
    waiting: SignIns = field(repr=False)
    # Who started it (the admin's callback must come back to the same person), and its flow.
    started_by: int | None = None
    server_id: int | None = None
    flow: concurrent.futures.Future[int] | None = None
    urls: queue.SimpleQueue[str] = field(default_factory=queue.SimpleQueue)
    answer: concurrent.futures.Future[AuthorizationCodeResult] = field(default_factory=concurrent.futures.Future)
    state: str = ""

    async def _on_url(self, url: str) -> None:
        self.state = (parse_qs(urlsplit(url).query).get("state") or [""])[0]
        self.answer = concurrent.futures.Future()
        self.waiting.add(self)
        self.urls.put(url)

    async def _wait_answer(self) -> AuthorizationCodeResult:
        try:
            return await asyncio.wait_for(asyncio.wrap_future(self.answer), SIGN_IN_SECONDS)
        except TimeoutError:
            raise OAuthFlowError(f"nobody signed in within {SIGN_IN_SECONDS:g} s") from None
        finally:
            self.waiting.discard(self.state)

    def give(self, query: dict[str, list[str]]) -> None:
        """The callback's query string: a code, or the authorization server's error."""
        answer = self.answer
        if answer.done():
            return
        first = {key: values[0] for key, values in query.items() if values}
        if "error" in first:
            reason = first["error"] + (f": {first['error_description']}" if first.get("error_description") else "")
            answer.set_exception(OAuthFlowError(f"the authorization server refused: {reason}"))
        elif not first.get("code"):
            answer.set_exception(OAuthFlowError("the callback carried no authorization code"))
        else:
            answer.set_result(
                AuthorizationCodeResult(code=first["code"], state=first.get("state"), iss=first.get("iss"))
            )

    def next_url(self, timeout: float) -> str | None:
        """The next URL the person must open, or None when the flow has ended (raising its
        failure, if it failed). The first comes after discovery and registration."""
        assert self.flow is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                return self.urls.get(timeout=0.05)
            except queue.Empty:
                pass
            if self.flow.done() and self.urls.empty():
                self.flow.result()
                return None
        self.flow.cancel()
        raise TimeoutError(f"the sign-in did not go on within {timeout:g} s")


async def connect(config: Any, sign_in: SignIn) -> int:
    """Sign in to the server as ``sign_in`` directs and list its tools once (so the tokens
    work); the tokens and the client registration are stored on the row.

    Returns how many tools the server lists. Raises on any failure, with the reason.
    """
    storage = RowStorage(
        config.id, redirect_uri=sign_in.redirect_uri,
        client_id=config.oauth_client_id, client_secret=config.oauth_client_secret, fresh=True,
    )
    wanted_scope = (await asyncio.to_thread(_load, config.id)).get("wanted_scope")
    auth = HubOAuthProvider(
        config, storage, wanted_scope=wanted_scope,
        redirect_handler=sign_in._on_url, callback_handler=sign_in._wait_answer,
    )
    async with AsyncExitStack() as stack:
        # As in pool.ServerPool._client: the SDK's client factory is private.
        http = httpx2.AsyncClient(
            headers=dict(config.headers), timeout=httpx2.Timeout(config.timeout, read=max(config.timeout, 60.0)),
            auth=auth,
        )
        stack.push_async_callback(http.aclose)
        client = await stack.enter_async_context(
            Client(
                streamable_http_client(config.url, http_client=http),
                client_info=types.Implementation(name=CLIENT_NAME, version="1.0"),
            )
        )
        listed = await client.list_tools()
    await asyncio.to_thread(_store, config.id, wanted_scope=None, discovered=auth.discovered())
    return len(listed.tools)


# --- The loopback callback (the command) --------------------------------------------------


class LoopbackCallback:
    """A one-shot HTTP listener on 127.0.0.1 for the browser's return (RFC 8252 §7.3).

    Set ``sign_in`` before the browser can come back; its query string goes there.
    """

    def __init__(self, port: int = 0) -> None:
        outer = self
        self.sign_in: SignIn | None = None

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # the name http.server calls
                parts = urlsplit(self.path)
                if parts.path != CALLBACK_PATH or outer.sign_in is None:
                    self.send_error(404)
                    return
                query = parse_qs(parts.query)
                outer.sign_in.give(query)
                said = "Sign-in refused." if "error" in query else "Signed in."
                body = (
                    f"<!doctype html><title>mcpsite</title><p>{html.escape(said)}"
                    " You can close this window and go back to the terminal.</p>"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                logger.debug("oauth callback: " + format, *args)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.redirect_uri = f"http://127.0.0.1:{self.server.server_address[1]}{CALLBACK_PATH}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="oauth-callback", daemon=True)

    def __enter__(self) -> LoopbackCallback:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
