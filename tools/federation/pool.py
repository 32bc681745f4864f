"""Pooled MCP client sessions to remote servers, on the federation loop (``loop.py``).

Each server gets a ``ServerPool``: at most ``max_connections`` open sessions, each
used by one call at a time; idle sessions are reused, closed after
``FEDERATION_IDLE_TIMEOUT`` seconds, and a server that cannot be reached is retried
with exponential backoff. ``Pools`` holds the pools of this process, by server id.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import itertools
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx2
import mcp_types as types
import pydantic
from django.conf import settings
from mcp import Client
from mcp.client.auth import OAuthFlowError
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.dispatcher import ProgressFnT
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from tools.base import InputRequired, ToolError
from tools.federation.loop import FederationLoop
from tools.federation.oauth import pooled_auth
from tools.federation.secrets import Sealed

logger = logging.getLogger(__name__)

# Told (on the loop) that a server's tool list changed: with the new listing read from the
# announcing session, or None when that failed (sync afresh).
ListChanged = Callable[[str, "Listing | None"], None]

# Sends (method, params, key) to the client of the door a call came through; raises
# ToolError when that door has no such client or the client refuses. ``key`` names the
# question of a 2026-07-28 input request (None for a 2025-11-25 server request).
Asker = Callable[[str, dict[str, Any], str | None], Awaitable[dict[str, Any]]]

CLIENT_INFO = types.Implementation(name="mcpsite", version="1.0")
# Seconds a new session may take to connect and finish its handshake, at least.
MIN_CONNECT_TIMEOUT = 10.0
# Seconds between two looks for idle sessions to close.
IDLE_SWEEP_SECONDS = 5.0
# First wait before reconnecting (or re-listening); it doubles up to FEDERATION_BACKOFF_MAX.
BACKOFF_START = 0.5


@dataclass(frozen=True)
class Listing:
    """A server's whole tools/list answer. ``seq`` numbers the answers of this process in
    the order they came in, so that a slow answer never overwrites a newer one."""

    tools: list[types.Tool]
    protocol_version: str
    seq: int


class RemoteUnavailable(Exception):
    """The remote server cannot be reached (connect failed, or the connection was lost)."""


class RemoteBadResult(Exception):
    """The remote answered a call with something the protocol does not allow.

    That call fails; the server and its session are fine (it answered).
    """


def bad_result_reason(exc: pydantic.ValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error.get("loc", ())) or "result"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    more = f" (and {exc.error_count() - 3} more)" if exc.error_count() > 3 else ""
    return "; ".join(parts) + more


def describe(exc: BaseException) -> str:
    """A one-line reason, digging through anyio's exception groups to the first cause."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc) or type(exc).__name__
    if isinstance(exc, MCPError | RemoteUnavailable | OAuthFlowError):
        return text
    return f"{type(exc).__name__}: {text}"[:500]


@dataclass(frozen=True)
class ServerConfig:
    """What a pool needs to connect, copied from the RemoteServer row (safe across threads)."""

    id: int
    name: str
    transport: str
    url: str
    argv: tuple[str, ...]
    # Holds the server's secrets in plain text: kept out of reprs (logs, tracebacks).
    headers: tuple[tuple[str, str], ...] = field(repr=False)
    timeout: float
    max_connections: int
    # Why this server cannot be connected to at all (an undecryptable secret), else "".
    error: str = ""
    # OAuth sign-in (tools.federation.oauth): the tokens live on the row, not here (a
    # refresh must not look like a changed configuration).
    oauth: bool = False
    oauth_client_id: str = ""
    oauth_client_secret: str = field(default="", repr=False)

    @classmethod
    def from_server(cls, server: Any) -> ServerConfig:
        error = ""
        secret_values = (server.secret, server.secret_headers, server.oauth_client_secret)
        if any(isinstance(value, Sealed) for value in secret_values):
            error = (
                "its stored secret cannot be decrypted: the key it was encrypted with is not in "
                "FEDERATION_SECRET_KEYS (enter the secret again, or list the old key again)"
            )
        headers = dict(server.headers or {})
        if not error:
            headers.update(server.secret_headers or {})
        if server.secret and not error:
            # The server's own credential; a caller's token is never passed on.
            headers["Authorization"] = f"Bearer {server.secret}"
        return cls(
            id=server.pk,
            name=server.name,
            transport=server.transport,
            url=server.url,
            argv=tuple(server.argv) if server.transport == "stdio" else (),
            headers=tuple(sorted(headers.items())),
            timeout=float(server.timeout),
            max_connections=max(1, int(server.max_connections)),
            error=error,
            oauth=bool(server.oauth) and server.transport == "streamable_http",
            oauth_client_id=server.oauth_client_id,
            oauth_client_secret="" if error else str(server.oauth_client_secret),
        )


# --- Sessions and pools ---------------------------------------------------------------------


@dataclass(eq=False)
class PooledSession:
    client: Client | None = None
    task: asyncio.Task[None] | None = None
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    dead: bool = False
    last_used: float = field(default_factory=time.monotonic)
    # While a call runs on this session: sends a request of the remote server (sampling,
    # elicitation, roots) to the client of the door the call came through.
    asker: Asker | None = None
    # The last HTTP error status the server answered with ("HTTP 401 Unauthorized"): the
    # SDK reports those as a bare "Server returned an error response".
    http_error: str = ""
    # The call in progress, and the questions of the remote that the hub's caller must
    # answer before it can go on (they end this run: see ServerPool.call_tool).
    call: asyncio.Task[Any] | None = None
    input_required: dict[str, dict[str, Any]] = field(default_factory=dict)

    def close(self) -> None:
        self.dead = True
        self.closing.set()


class ServerPool:
    """A bounded pool of client sessions to one remote server."""

    def __init__(
        self,
        config: ServerConfig,
        *,
        on_list_changed: ListChanged | None = None,
        listing_numbers: Iterator[int],
    ) -> None:
        self.config = config
        self._on_list_changed = on_list_changed
        self._listing_numbers = listing_numbers
        self._relists: set[asyncio.Task[None]] = set()
        self._idle: list[PooledSession] = []
        self._in_use: dict[int, PooledSession] = {}  # by id() of its Client (not hashable)
        self._sessions: set[PooledSession] = set()
        self._opening = 0
        self._cond = asyncio.Condition()
        self._failures = 0
        self._retry_at = 0.0
        self.last_error = ""
        self.peak = 0  # the most sessions open (or opening) at once, for operators and tests
        self.closed = False
        # One OAuth provider for the pool's sessions (made on first connect): they share
        # its tokens, and its lock lets one refresh at a time.
        self._auth: Any = None

    @property
    def size(self) -> int:
        return len(self._sessions) + self._opening

    # --- Connecting

    def _client(self, stack: AsyncExitStack, session: PooledSession) -> Client:
        config = self.config
        if config.transport == "stdio":
            target: Any = stdio_client(StdioServerParameters(command=config.argv[0], args=list(config.argv[1:])))
        else:
            if config.oauth and self._auth is None:
                self._auth = pooled_auth(config)
            # Built as the SDK's own transports build theirs (its factory is private): redirects
            # are not followed here, the transport follows those within the server's origin.
            http = httpx2.AsyncClient(
                headers=dict(config.headers),
                timeout=httpx2.Timeout(config.timeout, read=max(config.timeout, 300.0)),
                auth=self._auth,
            )
            stack.push_async_callback(http.aclose)

            async def note_status(response: httpx2.Response) -> None:
                if response.status_code >= 400:
                    session.http_error = f"HTTP {response.status_code} {response.reason_phrase}".strip()

            http.event_hooks["response"].append(note_status)
            target = streamable_http_client(config.url, http_client=http)
        return Client(
            _complete_by_default(target, session),
            client_info=CLIENT_INFO,
            logging_callback=self._log,
            message_handler=functools.partial(self._on_message, session),
            # 2026-07-28 servers send log messages only to requests that opt in.
            log_level="info",
            # The hub keeps its own listing; a stale client-side cache would hide changes.
            cache=None,
            # Declared on every session: pooled sessions serve any caller, so a request is
            # passed to the caller of the call in progress, or refused if it cannot answer.
            sampling_callback=functools.partial(self._pass_request, session, "sampling/createMessage"),
            elicitation_callback=functools.partial(self._pass_request, session, "elicitation/create"),
            list_roots_callback=functools.partial(self._pass_roots, session),
        )

    async def _pass_roots(self, session: PooledSession, context: Any) -> Any:
        return await self._pass_request(session, "roots/list", context, None)

    async def _pass_request(self, session: PooledSession, method: str, context: Any, params: Any) -> Any:
        result_types: dict[str, Any] = {
            "sampling/createMessage": types.CreateMessageResult,
            "elicitation/create": types.ElicitResult,
            "roots/list": types.ListRootsResult,
        }
        asker = session.asker
        if asker is None:
            return types.ErrorData(
                code=types.INVALID_REQUEST, message=f"{method} is only answered during a tool call of the hub."
            )
        data = params.model_dump(by_alias=True, mode="json", exclude_none=True) if params is not None else {}
        # On 2026-07-28 the SDK's input-required driver hands over each question under its key.
        client = session.client
        modern = client is not None and client.protocol_version in MODERN_PROTOCOL_VERSIONS
        key = str(context.request_id) if modern else None
        try:
            answer = await asker(method, data, key)
            return result_types[method].model_validate(answer)
        except InputRequired as exc:
            # The hub's caller answers only once this run has ended (MCP 2026-07-28, tasks):
            # the remote call is given up, and made again from the start with the answer.
            session.input_required.update(exc.requests)
            if session.call is not None:
                asyncio.get_running_loop().call_soon(session.call.cancel)
            return types.ErrorData(
                code=types.INVALID_REQUEST, message="The caller answers first; the call is made again."
            )
        except ToolError as exc:
            return types.ErrorData(code=types.INVALID_REQUEST, message=str(exc))
        except pydantic.ValidationError as exc:
            return types.ErrorData(code=types.INTERNAL_ERROR, message=f"the hub's client answered wrongly: {exc}")

    async def _log(self, params: types.LoggingMessageNotificationParams) -> None:
        level = {"debug": logging.DEBUG, "info": logging.INFO, "notice": logging.INFO, "warning": logging.WARNING}.get(
            params.level, logging.ERROR
        )
        logging.getLogger(f"tools.federation.remote.{self.config.name}").log(
            level, "%s", params.data, extra={"remote_server": self.config.name, "remote_logger": params.logger or ""}
        )

    async def _on_message(self, session: PooledSession, message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            self._list_changed(session)
        elif isinstance(message, Exception):
            logger.info("remote server %s: %s", self.config.name, describe(message))

    def _list_changed(self, session: PooledSession) -> None:
        # Re-list on the session that announced the change: over stdio every session is
        # its own server process, and only that one is known to have the new list.
        task = asyncio.get_running_loop().create_task(self._relist(session))
        self._relists.add(task)
        task.add_done_callback(self._relists.discard)

    async def _relist(self, session: PooledSession) -> None:
        if self._on_list_changed is None:
            return
        try:
            assert session.client is not None
            listing = await self._list_all(session.client)
        except Exception as exc:
            logger.info("remote server %s: re-listing on its session failed: %s", self.config.name, describe(exc))
            self._on_list_changed(self.config.name, None)
            return
        self._on_list_changed(self.config.name, listing)

    async def _listen(self, session: PooledSession, client: Client) -> None:
        # 2026-07-28 has no unsolicited list_changed; it is a subscriptions/listen stream.
        # A stream that ends while the session lives is opened again (with a backoff), and
        # the tools are re-listed, since a change may have come while nobody listened.
        delay = BACKOFF_START
        reopened = False
        while True:
            try:
                async with client.listen(tools_list_changed=True) as subscription:
                    delay = BACKOFF_START
                    if reopened:
                        self._list_changed(session)
                    async for _event in subscription:
                        self._list_changed(session)
                logger.info("remote server %s: listen stream closed by the server", self.config.name)
            except Exception as exc:
                logger.info("remote server %s: listen stream ended: %s", self.config.name, describe(exc))
            if session.closing.is_set() or session.dead:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, max(settings.FEDERATION_BACKOFF_MAX, BACKOFF_START))
            reopened = True

    async def _run_session(self, session: PooledSession, ready: asyncio.Future[None]) -> None:
        try:
            async with AsyncExitStack() as stack:
                client = await stack.enter_async_context(self._client(stack, session))
                session.client = client
                ready.set_result(None)
                listen_task = None
                tools_caps = client.server_capabilities.tools
                if (
                    client.protocol_version in MODERN_PROTOCOL_VERSIONS
                    and tools_caps is not None
                    and tools_caps.list_changed
                ):
                    listen_task = asyncio.create_task(self._listen(session, client))
                try:
                    await session.closing.wait()
                finally:
                    if listen_task is not None:
                        listen_task.cancel()
        except BaseException as exc:
            if not ready.done():
                reason = describe(exc)
                if session.http_error and session.http_error not in reason:
                    reason = f"{reason} ({session.http_error})"
                ready.set_exception(RemoteUnavailable(reason))
            elif not session.closing.is_set():
                logger.warning("remote server %s: session lost: %s", self.config.name, describe(exc))
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            session.dead = True
            await self._forget(session)

    async def _forget(self, session: PooledSession) -> None:
        async with self._cond:
            self._sessions.discard(session)
            if session in self._idle:
                self._idle.remove(session)
            self._cond.notify_all()

    async def _open(self) -> PooledSession:
        # Starting a stdio server (an interpreter, its imports) can take longer than a call may.
        connect_timeout = max(self.config.timeout, MIN_CONNECT_TIMEOUT)
        session = PooledSession()
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        session.task = asyncio.create_task(self._run_session(session, ready), name=f"mcp-session-{self.config.name}")
        try:
            await asyncio.wait_for(asyncio.shield(ready), timeout=connect_timeout)
        except TimeoutError:
            session.task.cancel()
            raise RemoteUnavailable(f"no handshake within {connect_timeout:g} s") from None
        except BaseException:
            session.task.cancel()
            raise
        return session

    # --- Borrowing

    async def acquire(self, *, force: bool = False) -> PooledSession:
        """A session for one call: an idle one, a new one while below the bound, else wait.

        Within the backoff after a failed connect, raise ``RemoteUnavailable`` at once
        unless ``force`` (health checks always try).
        """
        if self.config.error:
            raise RemoteUnavailable(self.config.error)
        async with self._cond:
            while True:
                if self.closed:
                    raise RemoteUnavailable("the pool is closed")
                while self._idle:
                    session = self._idle.pop()
                    if not session.dead:
                        return session
                if self.size < self.config.max_connections:
                    now = time.monotonic()
                    if not force and now < self._retry_at:
                        raise RemoteUnavailable(
                            f"{self.last_error or 'unreachable'} (next attempt in {self._retry_at - now:.1f} s)"
                        )
                    self._opening += 1
                    self.peak = max(self.peak, self.size)
                    break
                await self._cond.wait()
        try:
            session = await self._open()
        except BaseException as exc:
            async with self._cond:
                self._opening -= 1
                if not isinstance(exc, asyncio.CancelledError):
                    self._failures += 1
                    self.last_error = describe(exc)
                    backoff = min(settings.FEDERATION_BACKOFF_MAX, BACKOFF_START * 2 ** (self._failures - 1))
                    self._retry_at = time.monotonic() + backoff
                self._cond.notify_all()
            if isinstance(exc, Exception) and not isinstance(exc, RemoteUnavailable):
                raise RemoteUnavailable(describe(exc)) from exc
            raise
        async with self._cond:
            self._opening -= 1
            self._failures = 0
            self._retry_at = 0.0
            self.last_error = ""
            if session.dead:  # lost between the handshake and here
                self._cond.notify_all()
                raise RemoteUnavailable("the connection closed right after the handshake")
            self._sessions.add(session)
        return session

    async def release(self, session: PooledSession, *, broken: bool = False) -> None:
        async with self._cond:
            if broken or session.dead or self.closed:
                session.close()
            else:
                session.last_used = time.monotonic()
                self._idle.append(session)
            self._cond.notify_all()

    @asynccontextmanager
    async def session(self, *, force: bool = False) -> AsyncIterator[Client]:
        pooled = await self.acquire(force=force)
        broken = False
        try:
            assert pooled.client is not None
            self._in_use[id(pooled.client)] = pooled
            yield pooled.client
        except MCPError as exc:
            # A JSON-RPC error is the server's answer, except a closed connection.
            broken = exc.code == types.CONNECTION_CLOSED or pooled.dead
            raise
        except (asyncio.CancelledError, TimeoutError, pydantic.ValidationError, RuntimeError, InputRequired):
            # The call was abandoned (timeout or cancellation) and the SDK told the
            # server, or the server answered with a malformed result, or the caller
            # must answer the remote's questions first: the session itself is fine.
            raise
        except BaseException:
            broken = True
            raise
        finally:
            self._in_use.pop(id(pooled.client), None)
            await self.release(pooled, broken=broken)

    # --- Operations

    async def call_tool(
        self,
        name: str,
        arguments: dict[str, Any],
        *,
        progress: ProgressFnT | None = None,
        definition: dict[str, Any] | None = None,
        asker: Asker | None = None,
    ) -> types.CallToolResult:
        """Call ``name``; ``definition`` is its stored tools/list entry (for Mcp-Param-* headers);
        ``asker`` answers the server's sampling, elicitation and roots requests of this call."""
        try:
            async with self.session() as client:
                if definition is not None:
                    _know_tool(client, definition)
                pooled = self._in_use[id(client)]
                pooled.asker, pooled.input_required = asker, {}
                # No read timeout here: the execution service owns the deadline (the
                # server's timeout, or a ToolConfig override) and cancels this call.
                pooled.call = asyncio.ensure_future(client.call_tool(name, arguments, progress_callback=progress))
                try:
                    result = await pooled.call
                except BaseException:
                    if not pooled.input_required or asyncio.current_task().cancelling():  # type: ignore[union-attr]
                        raise
                else:
                    if not pooled.input_required:
                        return result
                finally:
                    pooled.asker, pooled.call = None, None
                # A question for the hub's caller ended the remote call (however it ended).
                raise InputRequired(pooled.input_required)
        except pydantic.ValidationError as exc:
            raise RemoteBadResult(f"its answer to tools/call is malformed: {bad_result_reason(exc)}") from None
        except RuntimeError as exc:
            # The SDK's word for a result it cannot accept (structured content that breaks
            # the tool's output schema, an input request it cannot answer).
            raise RemoteBadResult(describe(exc)) from None
        except MCPError as exc:
            if exc.code == types.CONNECTION_CLOSED:
                raise RemoteUnavailable(f"the connection was lost: {exc.message}") from exc
            raise
        except (RemoteUnavailable, asyncio.CancelledError):
            raise
        except Exception as exc:
            raise RemoteUnavailable(describe(exc)) from exc

    async def list_tools(self, *, force: bool = True) -> Listing:
        """The server's whole tool listing, with the negotiated protocol version."""
        try:
            async with self.session(force=force) as client:
                return await self._list_all(client)
        except (RemoteUnavailable, asyncio.CancelledError):
            raise
        except TimeoutError:
            raise RemoteUnavailable(f"tools/list got no answer within {self.config.timeout:g} s") from None
        except Exception as exc:
            raise RemoteUnavailable(describe(exc)) from exc

    async def _list_all(self, client: Client) -> Listing:
        tools: list[types.Tool] = []
        cursor: str | None = None
        for _ in range(100):  # a paginator that never ends must not hang a sync
            page = await asyncio.wait_for(client.list_tools(cursor=cursor), self.config.timeout)
            tools.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        return Listing(tools=tools, protocol_version=client.protocol_version, seq=next(self._listing_numbers))

    async def close_idle(self, idle_for: float) -> None:
        now = time.monotonic()
        async with self._cond:
            stale = [s for s in self._idle if now - s.last_used >= idle_for]
            for session in stale:
                self._idle.remove(session)
                session.close()
        for session in stale:
            await _wait_task(session.task)

    async def close(self) -> None:
        async with self._cond:
            self.closed = True
            sessions = list(self._sessions)
            for session in sessions:
                session.close()
            self._idle.clear()
            self._cond.notify_all()
        await asyncio.gather(*(_wait_task(session.task) for session in sessions))


@asynccontextmanager
async def _complete_by_default(transport: Any, session: PooledSession) -> AsyncIterator[tuple[Any, Any]]:
    """The transport, with a 2026-07-28 result that has no ``resultType`` read as complete.

    SEP-2322: a client MUST take a result without ``resultType`` as ``complete``. The SDK
    checks results against the 2026-07-28 schema, which requires the field, and refuses
    such a result (older servers of that revision send them).
    """
    async with transport as (read_stream, write_stream):
        yield _ResultTypeFiller(read_stream, session), write_stream


class _ResultTypeFiller:
    """A read stream that fills in ``resultType`` once the session speaks 2026-07-28."""

    def __init__(self, stream: Any, session: PooledSession) -> None:
        self._stream = stream
        self._session = session

    def __getattr__(self, name: str) -> Any:  # last_context and the like
        return getattr(self._stream, name)

    def _fill(self, item: Any) -> Any:
        client = self._session.client
        if (
            client is not None
            and isinstance(item, SessionMessage)
            and isinstance(item.message, types.JSONRPCResponse)
            and "resultType" not in item.message.result
            and client.protocol_version in MODERN_PROTOCOL_VERSIONS
        ):
            item.message.result["resultType"] = "complete"
        return item

    async def receive(self) -> Any:
        return self._fill(await self._stream.receive())

    def __aiter__(self) -> _ResultTypeFiller:
        return self

    async def __anext__(self) -> Any:
        return self._fill(await self._stream.__anext__())

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def __aenter__(self) -> _ResultTypeFiller:
        await self._stream.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> bool | None:
        return await self._stream.__aexit__(*exc)


def _know_tool(client: Client, definition: dict[str, Any]) -> None:
    """Tell a pooled session the tool's definition as the hub stored it.

    The SDK mirrors ``x-mcp-header`` arguments into ``Mcp-Param-*`` headers only for
    tools that this very session listed; a pooled session often has not (a listing ran
    on another one, or none since it opened). The SDK keeps no public way to absorb a
    known listing, so this uses its private one and falls back to sending no headers
    (the SDK then re-lists after the server's HEADER_MISMATCH) if it ever goes away.
    """
    try:
        session = client.session
        if definition.get("name") in session._x_mcp_header_maps:
            return
        tool = types.Tool.model_validate(definition)
        session._absorb_tool_listing(types.ListToolsResult(tools=[tool]), complete=False)
    except Exception:
        logger.debug("could not prime the session with %r", definition.get("name"), exc_info=True)


# How long a closing session's task gets to end on its own before it is cancelled.
TASK_GRACE_SECONDS = 5.0


async def _wait_task(task: asyncio.Task[None] | None) -> None:
    if task is None or task.done():
        return
    try:
        await asyncio.wait_for(asyncio.shield(task), TASK_GRACE_SECONDS)
    except (TimeoutError, asyncio.CancelledError, Exception):
        task.cancel()


# --- The pools of this process -------------------------------------------------------------


class Pools:
    """This process's pools, one per server (by id), on the federation loop.

    ``on_list_changed`` is told when a server announces that its tools changed.
    """

    def __init__(self, loop: FederationLoop, *, on_list_changed: ListChanged | None = None) -> None:
        self.loop = loop
        self._on_list_changed = on_list_changed
        self._pools: dict[int, ServerPool] = {}
        self._lock = threading.Lock()  # held while a pool is made on the loop: never take it there
        self._retired: set[ServerPool] = set()  # dropped or replaced, still closing
        self._retired_lock = threading.Lock()
        self._sweeper: concurrent.futures.Future[None] | None = None
        # Numbers the listings of every pool in the order they come in (drawn on the loop only).
        self._listing_numbers = itertools.count(1)

    async def _sweep_idle(self) -> None:
        while True:
            await asyncio.sleep(min(IDLE_SWEEP_SECONDS, max(0.1, settings.FEDERATION_IDLE_TIMEOUT / 2)))
            for pool in list(self._pools.values()):
                try:
                    await pool.close_idle(settings.FEDERATION_IDLE_TIMEOUT)
                except Exception:
                    logger.exception("closing idle sessions of %s failed", pool.config.name)

    async def _new_pool(self, config: ServerConfig) -> ServerPool:
        # Created on the loop, so that its Condition belongs to that loop.
        return ServerPool(config, on_list_changed=self._on_list_changed, listing_numbers=self._listing_numbers)

    def _retire(self, pool: ServerPool) -> None:
        """Close a pool that was dropped or replaced, in the background (shutdown waits for it)."""
        with self._retired_lock:
            self._retired.add(pool)

        def done(_: concurrent.futures.Future[None]) -> None:  # on the loop
            with self._retired_lock:
                self._retired.discard(pool)

        self.loop.submit(pool.close()).add_done_callback(done)

    def pool_for(self, config: ServerConfig) -> ServerPool:
        """The pool for this configuration; a changed configuration replaces the old pool."""
        with self._lock:
            pool = self._pools.get(config.id)
            if pool is not None and pool.config == config and not pool.closed:
                return pool
            old = pool
            pool = self.loop.run_sync(self._new_pool(config), timeout=5)
            self._pools[config.id] = pool
            if self._sweeper is None or self._sweeper.done():
                self._sweeper = self.loop.submit(self._sweep_idle())
        if old is not None:
            self._retire(old)
        return pool

    def drop(self, server_id: int) -> None:
        with self._lock:
            pool = self._pools.pop(server_id, None)
        if pool is not None and self.loop.running():
            self._retire(pool)

    def existing(self, server_id: int) -> ServerPool | None:
        return self._pools.get(server_id)

    def shutdown(self) -> None:
        """Close every session and stop the loop (at process exit, and in tests).

        Pools that were dropped or replaced a moment ago and are still closing are waited
        for too: a session's close is what ends a stdio server's process and reaps it.
        """
        with self._lock, self._retired_lock:
            pools = [*self._pools.values(), *self._retired]
            self._pools.clear()
            self._retired.clear()
            self._sweeper = None
        self.loop.stop(_close_pools(pools))


async def _close_pools(pools: list[ServerPool]) -> None:
    await asyncio.gather(*(pool.close() for pool in pools), return_exceptions=True)
