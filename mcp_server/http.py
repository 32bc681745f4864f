"""Streamable HTTP at /mcp, mounted beside Django in ``mcpsite/asgi.py``.

This route bypasses Django's middleware, so it does its own checks, in this order:

1. Host (421) and Origin (403): DNS-rebinding protection. Hosts are Django's
   ``ALLOWED_HOSTS``; origins are ``MCP_ALLOWED_ORIGINS`` (loopback by default) or
   the request's own host.
2. The bearer token: an API token or an OAuth access token issued for this endpoint
   (RFC 8707 resource), else 401 with ``WWW-Authenticate`` naming the scopes and the
   RFC 9728 metadata at ``/.well-known/oauth-protected-resource/mcp``, unless
   ``MCP_ALLOW_ANONYMOUS`` and no token at all.
3. A POST's body: JSON content type (415), size (413, ``MCP_MAX_BODY_BYTES``), JSON
   (-32700) and the shape of one JSON-RPC message (-32600), each answered as a
   JSON-RPC error; then the token's scope for the method (403 ``insufficient_scope``,
   so that a client can step up; the execution service checks again on every door).
4. The SDK's session manager: sessions (``Mcp-Session-Id``), both protocol eras,
   the methods and their params.

Daphne and Channels run no ASGI lifespan, so the session manager is started lazily,
once per event loop, by the first request on that loop, and stopped when the server
shuts down (or by ``shutdown()``).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import sys
import uuid
import weakref
from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, authorization_context
from mcp.server.auth.provider import AccessToken
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.auth import ProtectedResourceMetadata
from mcp_types import INTERNAL_ERROR, INVALID_REQUEST, LOG_LEVEL_META_KEY, PARSE_ERROR
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.authentication import AuthCredentials

from accounts.services import (
    ALL_SCOPES,
    SCOPE_EXECUTIONS_READ,
    SCOPE_TOOLS_CALL,
    SCOPE_TOOLS_READ,
    TokenRefused,
    principal_for_token,
    principal_known,
)
from mcp_server.event_store import ProcessEvents
from mcp_server.following import SessionFollower, opening_principal
from mcp_server.sdk import give_event_store
from mcpsite import jsonlimits
from mcpsite.origins import origin_matches, parse_origin

logger = logging.getLogger(__name__)

MCP_PATH = "/mcp"
METADATA_PATH = "/.well-known/oauth-protected-resource/mcp"
# The scope an MCP method needs; methods not named need none beyond a valid token.
METHOD_SCOPES = {
    "tools/list": SCOPE_TOOLS_READ,
    "tools/call": SCOPE_TOOLS_CALL,
    "resources/list": SCOPE_EXECUTIONS_READ,
    "resources/read": SCOPE_EXECUTIONS_READ,
    "resources/templates/list": SCOPE_EXECUTIONS_READ,
    "resources/subscribe": SCOPE_EXECUTIONS_READ,
}


class _HubSessionManager(StreamableHTTPSessionManager):
    """The SDK's session manager with a cap per credential besides its cap per process, so
    that one token cannot open every session the process allows (MCP_MAX_SESSIONS_PER_TOKEN;
    the HTTP layer answers 429 before this, and this holds the cap exactly under races);
    and sessions that end with their credential (``following``)."""

    def __init__(self, *, events: ProcessEvents | None = None, **kwargs: Any) -> None:
        # The manager's own store only marks resumption on; every session's transport gets a
        # view of its own events instead (_admit_session), and this one replays nothing.
        super().__init__(event_store=None if events is None else events.for_session(""), **kwargs)
        self.follower = SessionFollower(self.end_session)
        self.events = events  # each session's transport gets its own view (_admit_session)

    # The SDK takes JSON or SSE for the whole manager; the hub answers a 2026-07-28 request
    # as plain JSON when nothing will stream before its response (no progress token, no
    # log level asked for: ``_streams_nothing``), which spares the SSE framing. The
    # manager reads this attribute per request for that era; the handshake era's session
    # transports read it as they are created, when it is False (a session may stream).
    @property
    def json_response(self) -> bool:
        return _json_answer.get()

    @json_response.setter
    def json_response(self, value: bool) -> None:
        pass  # decided per request

    async def end_session(self, session_id: str) -> None:
        """End a session as a DELETE would: its streams close and its id answers 404."""
        transport = self._server_instances.get(session_id)
        if transport is not None:
            await self._discard_session(session_id, transport)

    async def _discard_session(self, session_id: str, transport: Any) -> None:
        # Upstream: the one place every ending of a session (DELETE, idle, crash) passes.
        self.follower.forget(session_id)
        await super()._discard_session(session_id, transport)
        if self.events is not None:
            self.events.forget(session_id)

    def open_sessions_of(self, requestor: Any) -> int:
        # Upstream gap: the SDK has no per-credential limit and no public view of who owns
        # which session; it keeps that in _session_owners, read here and nowhere else.
        return sum(1 for owner in self._session_owners.values() if owner == requestor)

    def _admit_session(self, requestor: Any) -> Any:
        if requestor is not None and self.open_sessions_of(requestor) >= settings.MCP_MAX_SESSIONS_PER_TOKEN:
            return None  # the SDK answers 503 "Too many open sessions"
        transport = super()._admit_session(requestor)
        if transport is not None and transport.mcp_session_id is not None and self.events is not None:
            give_event_store(transport, self.events.for_session(transport.mcp_session_id))
        principal = opening_principal.get()
        if transport is not None and transport.mcp_session_id is not None and principal is not None:
            self.follower.follow(transport.mcp_session_id, principal)
        return transport


@dataclass
class _Running:
    manager: _HubSessionManager
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    error: BaseException | None = None


class MCPApplication:
    """The ASGI app for /mcp and its protected-resource metadata."""

    def __init__(self) -> None:
        self._hub: Any = None
        self._running: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Running] = weakref.WeakKeyDictionary()
        # (session id, request id as JSON) of the requests this process is answering.
        self._in_flight: set[tuple[str, str]] = set()
        # The 2025-11-25 streams' events of every session of this process (mcp_server.event_store).
        self.events = ProcessEvents()

    @property
    def hub(self) -> Any:
        if self._hub is None:
            from mcp_server.server import HubServer

            self._hub = HubServer()
        return self._hub

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        domain, _port = split_domain_port(host)
        if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
            await _rpc_error(send, 421, INVALID_REQUEST, f"Invalid Host header {host!r}: not in ALLOWED_HOSTS.")
            return
        if scope["path"] == METADATA_PATH:
            await self._metadata(scope, send, headers)
            return
        origin = headers.get("origin")
        if origin and not _origin_allowed(origin, host):
            await _rpc_error(
                send, 403, INVALID_REQUEST, f"Origin {origin!r} may not call this server (MCP_ALLOWED_ORIGINS)."
            )
            return

        granted: frozenset[str] | None = None
        if "authorization" in headers:
            refusal = await self._authenticate(scope, headers)
            if refusal is not None:
                await self._unauthorized(send, headers, scope, "invalid_token", refusal)
                return
            granted = frozenset(scope["user"].scopes)
        elif not settings.MCP_ALLOW_ANONYMOUS:
            await self._unauthorized(
                send, headers, scope, "invalid_token", "Authentication required: send Authorization: Bearer <token>."
            )
            return

        in_flight: tuple[str, str] | None = None
        message: dict[str, Any] = {}
        if scope["method"] == "POST":
            body = await _read_body(receive, settings.MCP_MAX_BODY_BYTES)
            problem, message = _post_problem(headers, body)
            if problem is not None:
                await _rpc_error(send, *problem)
                return
            assert body is not None  # a body over the limit is a problem (413) above
            if granted is not None:
                needed = METHOD_SCOPES.get(message.get("method", ""))
                if needed is not None and needed not in granted:
                    await self._insufficient_scope(send, headers, scope, message, needed, granted)
                    return
            session_id = headers.get("mcp-session-id")
            if session_id and "method" in message and "id" in message:
                # The transport keys a session's response streams by request id: a second
                # request with an id still in flight would take over the first one's
                # stream and leave both waiting forever. Refuse it at once instead.
                in_flight = (session_id, json.dumps(message["id"]))
                if in_flight in self._in_flight:
                    await _rpc_error(
                        send, 400, INVALID_REQUEST,
                        f"Invalid Request: request id {message['id']!r} is already in flight on this session.",
                    )
                    return
                self._in_flight.add(in_flight)
            receive = _replay(body, receive)

        try:
            running = await self._ensure_running()
            if running.error is not None:
                await _rpc_error(send, 503, INTERNAL_ERROR, "The MCP server is not available.")
                return
            if (
                scope["method"] == "POST" and message.get("method") == "initialize" and not self.stateless
                and "mcp-session-id" not in headers and isinstance(scope.get("user"), AuthenticatedUser)
                and running.manager.open_sessions_of(authorization_context(scope["user"]))
                >= settings.MCP_MAX_SESSIONS_PER_TOKEN
            ):
                await _rpc_error(
                    send, 429, INVALID_REQUEST,
                    f"This token already has {settings.MCP_MAX_SESSIONS_PER_TOKEN} open MCP sessions "
                    "(MCP_MAX_SESSIONS_PER_TOKEN): end one (DELETE with its Mcp-Session-Id) or let it expire.",
                )
                return
            opening_principal.set(scope.get("mcpsite.principal"))
            _json_answer.set(scope["method"] == "POST" and _streams_nothing(headers, message))
            await _last_resort(running.manager.handle_request, scope, receive, send)
        finally:
            if in_flight is not None:
                self._in_flight.discard(in_flight)

    # --- lifecycle, once per event loop ---------------------------------------------------

    async def _ensure_running(self) -> _Running:
        loop = asyncio.get_running_loop()
        running = self._running.get(loop)
        if running is None:
            # No await between the check and the insert: one start per loop.
            running = _Running(manager=self._new_manager())
            self._running[loop] = running
            running.task = loop.create_task(self._run(running), name="mcp-session-manager")
            _stop_with_daphne(self, loop)
        await running.ready.wait()
        return running

    def _new_manager(self) -> _HubSessionManager:
        return _HubSessionManager(
            app=self.hub.server,
            stateless=settings.MCP_STATELESS,
            # Priming events, retry hints and Last-Event-ID resumption on 2025-11-25 streams.
            events=None if settings.MCP_STATELESS else self.events,
            retry_interval=settings.MCP_SSE_RETRY_MS,
            json_response=False,  # per request: _HubSessionManager.json_response
            # Host and Origin are checked above; the transport still checks the content type.
            security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
            session_idle_timeout=settings.MCP_SESSION_IDLE_TIMEOUT,
            max_sessions=settings.MCP_MAX_SESSIONS,
            max_request_body_size=settings.MCP_MAX_BODY_BYTES,
        )

    async def _run(self, running: _Running) -> None:
        try:
            async with running.manager.run():
                follower = asyncio.get_running_loop().create_task(running.manager.follower.run())
                running.ready.set()
                try:
                    await running.stop.wait()
                finally:
                    follower.cancel()
        except Exception as exc:  # the rest of the site keeps serving; /mcp answers 503
            logger.exception("the MCP session manager failed")
            running.error = exc
        finally:
            running.ready.set()

    async def shutdown(self) -> None:
        """Close this loop's MCP sessions and stop its session manager."""
        running = self._running.pop(asyncio.get_running_loop(), None)
        if running is not None and running.task is not None:
            running.stop.set()
            await running.task

    @property
    def stateless(self) -> bool:
        return bool(settings.MCP_STATELESS)

    def failure(self) -> str | None:
        """Why a loop's session manager failed to start, if one did."""
        for running in list(self._running.values()):
            if running.error is not None:
                return f"{type(running.error).__name__}: {running.error}"[:300]
        return None

    def is_running(self) -> bool:
        """Whether some loop's manager is up (for readiness; False until the first request)."""
        return any(r.ready.is_set() and r.error is None for r in list(self._running.values()))

    # --- responses --------------------------------------------------------------------------

    async def _metadata(self, scope: dict[str, Any], send: Any, headers: dict[str, str]) -> None:
        if scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            await _json(send, 405, {"error": "method_not_allowed"}, [(b"allow", b"GET, HEAD, OPTIONS")])
            return
        base = _base_url(scope, headers)
        metadata = ProtectedResourceMetadata.model_validate({
            "resource": f"{base}{MCP_PATH}",
            "authorization_servers": list(settings.MCP_AUTHORIZATION_SERVERS) or [base],
            "resource_name": "mcpsite MCP server",
            "resource_documentation": f"{base}/api/docs/",
            "scopes_supported": list(ALL_SCOPES),
        })
        body = metadata.model_dump(mode="json", exclude_none=True)
        await _json(send, 200, body, [(b"access-control-allow-origin", b"*"), (b"cache-control", b"max-age=3600")])

    async def _authenticate(self, scope: dict[str, Any], headers: dict[str, str]) -> str | None:
        """Put the token's principal in ``scope`` (as the SDK's bearer middleware would); else why not."""
        kind, _, token = headers["authorization"].partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            return "Send Authorization: Bearer <token>."
        door_url = f"{_base_url(scope, headers)}{MCP_PATH}"
        try:
            principal = principal_known(token.strip(), door_url=door_url, audience_required=True) or (
                await database_sync_to_async(principal_for_token)(
                    token.strip(), door_url=door_url, audience_required=True
                )
            )
        except TokenRefused as exc:
            return exc.description
        scopes = sorted(principal.scopes) if principal.scopes is not None else list(ALL_SCOPES)
        access = AccessToken(
            token=token.strip(), client_id=principal.client_id, scopes=scopes, subject=str(principal.user.pk),
            expires_at=int(principal.expires_at.timestamp()) if principal.expires_at else None, resource=door_url,
        )
        scope["auth"], scope["user"] = AuthCredentials(scopes), AuthenticatedUser(access)
        scope["mcpsite.principal"] = principal
        return None

    async def _unauthorized(
        self, send: Any, headers: dict[str, str], scope: dict[str, Any], error: str, description: str
    ) -> None:
        metadata_url = f"{_base_url(scope, headers)}{METADATA_PATH}"
        challenge = (
            f'Bearer error="{error}", error_description="{description}", scope="{" ".join(ALL_SCOPES)}", '
            f'resource_metadata="{metadata_url}"'
        )
        await _json(
            send, 401, {"error": error, "error_description": description}, [(b"www-authenticate", challenge.encode())]
        )

    async def _insufficient_scope(
        self, send: Any, headers: dict[str, str], scope: dict[str, Any], message: dict[str, Any], needed: str,
        granted: frozenset[str],
    ) -> None:
        """403 with the scopes to ask for (the ones held and the one missing), for a step-up."""
        metadata_url = f"{_base_url(scope, headers)}{METADATA_PATH}"
        wanted = " ".join(s for s in ALL_SCOPES if s in granted or s == needed)
        description = f"The token does not grant the {needed} scope."
        challenge = (
            f'Bearer error="insufficient_scope", error_description="{description}", scope="{wanted}", '
            f'resource_metadata="{metadata_url}"'
        )
        body = {"jsonrpc": "2.0", "id": message.get("id"), "error": {"code": INVALID_REQUEST, "message": description}}
        await _json(send, 403, body, [(b"www-authenticate", challenge.encode())])


# Whether the request being served is answered as one JSON body (see _HubSessionManager).
_json_answer: contextvars.ContextVar[bool] = contextvars.ContextVar("mcpsite_json_answer", default=False)


def _streams_nothing(headers: dict[str, str], message: dict[str, Any]) -> bool:
    """A 2026-07-28 request whose answer is its result alone: nothing to stream before it."""
    version = headers.get("mcp-protocol-version")
    if version is None or version in HANDSHAKE_PROTOCOL_VERSIONS or "method" not in message:
        return False
    if message["method"] == "subscriptions/listen":
        return False
    meta = (message.get("params") or {}).get("_meta")
    return not (isinstance(meta, dict) and ("progressToken" in meta or LOG_LEVEL_META_KEY in meta))


async def _read_body(receive: Any, limit: int) -> bytes | None:
    """The whole request body, or None when it is larger than ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Any) -> Any:
    sent = False

    async def replayed() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # then the disconnect, when it comes

    return replayed


def _post_problem(headers: dict[str, str], body: bytes | None) -> tuple[tuple[int, int, str] | None, dict[str, Any]]:
    """Why a POST cannot be a JSON-RPC message, as (HTTP status, JSON-RPC code, message), or
    None; and the message when it is one."""
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        return (415, INVALID_REQUEST, "Content-Type must be application/json."), {}
    if body is None:
        limit = settings.MCP_MAX_BODY_BYTES
        return (413, INVALID_REQUEST, f"The request body is larger than {limit} bytes (MCP_MAX_BODY_BYTES)."), {}
    try:
        message = jsonlimits.loads(body)
    except jsonlimits.JSONRefused as exc:
        return (400, PARSE_ERROR, f"Parse error: {exc}"), {}
    if isinstance(message, list):
        batches = "Invalid Request: JSON-RPC batches are not supported; send one message per request."
        return (400, INVALID_REQUEST, batches), {}
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        return (400, INVALID_REQUEST, 'Invalid Request: a JSON-RPC message is an object with "jsonrpc": "2.0".'), {}
    if "method" in message:
        if not isinstance(message["method"], str) or not message["method"]:
            return (400, INVALID_REQUEST, "Invalid Request: method must be a non-empty string."), {}
        if "params" in message and not isinstance(message["params"], dict):
            return (400, INVALID_REQUEST, "Invalid Request: params must be an object."), {}
        if "id" in message and (isinstance(message["id"], bool) or not isinstance(message["id"], (str, int))):
            return (400, INVALID_REQUEST, "Invalid Request: id must be a string or an integer."), {}
        return None, message
    if "id" in message and ("result" in message or "error" in message):
        return None, message  # a response to a request the server sent
    return (400, INVALID_REQUEST, "Invalid Request: neither a request, a notification nor a response (no method)."), {}


def _base_url(scope: dict[str, Any], headers: dict[str, str]) -> str:
    if settings.MCP_PUBLIC_URL:
        return settings.MCP_PUBLIC_URL.rstrip("/")
    scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
    return f"{scheme}://{headers.get('host', 'localhost')}"


def _origin_allowed(origin: str, host: str) -> bool:
    parsed = parse_origin(origin)
    if parsed is None:
        return False  # not an origin at all (user information, a path, "null")
    if parsed.netloc == host.lower():
        return True  # same origin
    return any(origin_matches(parsed, allowed) for allowed in settings.MCP_ALLOWED_ORIGINS)


async def _last_resort(handle: Any, scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Run the transport; a defect that escapes it is logged with the request id and
    answered as a JSON-RPC error (500) when no response has started, instead of the
    server's HTML error page."""
    started = False

    async def tracking_send(message: dict[str, Any]) -> None:
        nonlocal started
        started = started or message["type"] == "http.response.start"
        await send(message)

    try:
        await handle(scope, receive, tracking_send)
    except Exception:
        request_id = uuid.uuid4().hex
        logger.exception("an /mcp request failed (request id %s)", request_id)
        if not started:
            await _json(send, 500, {
                "jsonrpc": "2.0", "id": None,
                "error": {"code": INTERNAL_ERROR, "message": "Internal error; it is logged with this request id.",
                          "data": {"request_id": request_id}},
            })


async def _rpc_error(send: Any, status: int, code: int, message: str) -> None:
    await _json(send, status, {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}})


async def _json(send: Any, status: int, data: Any, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps(data).encode()
    response_headers = [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(extra or [])
    ]
    await send({"type": "http.response.start", "status": status, "headers": response_headers})
    await send({"type": "http.response.body", "body": body})


def _stop_with_daphne(app: MCPApplication, loop: asyncio.AbstractEventLoop) -> None:
    """Under daphne (Twisted on asyncio), close the MCP sessions before the reactor stops."""
    if "twisted.internet.reactor" not in sys.modules:
        return
    from twisted.internet import reactor
    from twisted.internet.defer import Deferred

    # The reactor's loop is not public in Twisted's asyncioreactor (no accessor upstream):
    # this is the one place the hub reads it, and a missing attribute means "not ours".
    if getattr(reactor, "_asyncioEventloop", None) is not loop:
        return

    async def drain_then_close() -> None:
        from executions import shutdown

        await shutdown.drain()  # running calls get their grace before their sessions close
        await app.shutdown()

    def before_shutdown() -> Deferred:
        return Deferred.fromFuture(asyncio.ensure_future(drain_then_close(), loop=loop))

    # IReactorCore is a zope interface (methods without self), which mypy reads one argument off.
    reactor.addSystemEventTrigger("before", "shutdown", before_shutdown)  # type: ignore[arg-type]


application = MCPApplication()
