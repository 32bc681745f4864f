"""The hub's MCP server: the official SDK's low-level ``Server`` bound to the registry.

Every handler is a thin translation between MCP and the hub's services:
``tools/list`` reads ``tools_for_user``, ``tools/call`` goes through
``executions.services.execute_tool`` (validation, permissions, rate limits, caching,
the ``ToolExecution`` row), prompts and resources come from providers
(``mcp_server.providers``: the ``Prompt`` rows and the caller's own executions, and any
``MCP_EXTRA_PROVIDERS``). The same ``HubServer`` serves Streamable HTTP
(``mcp_server.http``) and stdio (``manage.py mcp_stdio``).

Who is calling: over HTTP, the bearer token the transport verified (or the anonymous
user when ``MCP_ALLOW_ANONYMOUS`` is on); over stdio, the token the command was given.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import warnings
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from typing import Any, cast

import mcp_types as types
from channels.db import database_sync_to_async
from django.conf import settings
from mcp.server import Server
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.caching import CacheHint
from mcp.server.connection import Connection
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.subscriptions import ListenHandler, PromptsListChanged, ServerEvent, ToolsListChanged
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp.shared.message import ServerMessageMetadata
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from accounts.models import User
from accounts.services import TokenRefused, principal_for_token
from executions import metrics, policy, services
from executions.calls import DoorCall, on_loop
from executions.client_input import InputRound
from executions.models import Session, ToolExecution
from mcp_server import client_input, sdk, tasks
from mcp_server.caller import Caller
from mcp_server.providers import Providers, ResourceNotFound, installed_providers
from mcp_server.results import call_result, error_result
from mcp_server.sdk import connection_of
from tools.base import InputRequired, Tool, ToolError
from tools.registry import registry

logger = logging.getLogger(__name__)

RESOURCE_NOT_FOUND = -32002
# MCP log levels, lowest first; a tool's Python-style level maps onto them.
LOG_LEVELS = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]
_LEVEL_ALIASES = {"warn": "warning", "fatal": "critical", "exception": "error"}

INSTRUCTIONS = (
    "mcpsite: a hub of writing and research tools (text statistics, spell checking, summaries, "
    "keywords, language detection, calculations, web search and page fetching, document analysis) "
    "and of the tools of the MCP servers it federates, named <server>__<tool>. Every call is recorded; "
    "your own calls can be read back as execution://{id} resources. Prompts such as proofread and "
    "summarize_selection work on a selection of text."
)


# 2026-07-28 freshness hints (ttlMs/cacheScope). Lists that change rarely may be reused
# for a minute (a change is also announced: list_changed); what depends on the caller is
# private; a user's executions change all the time.
CACHE_HINTS: dict[Any, CacheHint] = {
    "server/discover": CacheHint(ttl_ms=300_000, scope="public"),
    "tools/list": CacheHint(ttl_ms=60_000, scope="private"),  # depends on the caller's role
    "prompts/list": CacheHint(ttl_ms=60_000, scope="public"),
    "resources/templates/list": CacheHint(ttl_ms=300_000, scope="public"),
    "resources/list": CacheHint(ttl_ms=0, scope="private"),
    "resources/read": CacheHint(ttl_ms=0, scope="private"),
}


class ThreadSafeBus:
    """A ``SubscriptionBus`` that may be published to from any thread.

    Each listener (one per ``subscriptions/listen`` stream) is called on the event
    loop it subscribed from, which is what the SDK's listen handler expects.
    """

    def __init__(self) -> None:
        self._listeners: dict[object, tuple[Callable[[ServerEvent], None], asyncio.AbstractEventLoop]] = {}
        self._lock = threading.Lock()

    async def publish(self, event: ServerEvent) -> None:
        self.publish_threadsafe(event)
        await asyncio.sleep(0)

    def publish_threadsafe(self, event: ServerEvent) -> None:
        with self._lock:
            listeners = list(self._listeners.values())
        for listener, loop in listeners:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_call_listener, listener, event)

    def subscribe(self, listener: Callable[[ServerEvent], None]) -> Callable[[], None]:
        token = object()
        with self._lock:
            self._listeners[token] = (listener, asyncio.get_running_loop())

        def unsubscribe() -> None:
            with self._lock:
                self._listeners.pop(token, None)

        return unsubscribe


def _call_listener(listener: Callable[[ServerEvent], None], event: ServerEvent) -> None:
    try:
        listener(event)
    except Exception:
        logger.exception("subscription listener failed")


class _SDKServer(Server[Any]):
    """The SDK's server, advertising ``listChanged`` for tools and prompts to handshake-era
    clients by default (the session manager asks it for its initialization options)."""

    def create_initialization_options(
        self, notification_options: NotificationOptions | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        options = notification_options or NotificationOptions(tools_changed=True, prompts_changed=True)
        return super().create_initialization_options(options, *args, **kwargs)


class HubServer:
    """One MCP server over the registry; ``server`` is the SDK object the transports run."""

    def __init__(self, *, stdio_caller: Caller | None = None, providers: Providers | None = None) -> None:
        self.stdio_caller = stdio_caller
        # Where prompts and resources come from (the process's own set unless a test gives one).
        self.providers = providers if providers is not None else installed_providers()
        self.bus = ThreadSafeBus()
        # Handshake-era connections with a standalone channel, and the loop each lives on:
        # list-changed notifications go to them (2026-07-28 clients listen on the bus).
        self._connections: weakref.WeakKeyDictionary[Connection, asyncio.AbstractEventLoop] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()
        with warnings.catch_warnings():
            # logging/setLevel is deprecated in 2026-07-28 but is how 2025-11-25 clients pick a level.
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            self.server: Server[Any] = _SDKServer(
                "mcpsite",
                version=_version(),
                title="mcpsite tool hub",
                instructions=INSTRUCTIONS,
                get_tool_input_schema=self._input_schema,
                cache_hints=CACHE_HINTS,
                on_list_tools=self.list_tools,
                on_call_tool=self.call_tool,
                on_list_prompts=self.list_prompts,
                on_get_prompt=self.get_prompt,
                on_list_resources=self.list_resources,
                on_list_resource_templates=self.list_resource_templates,
                on_read_resource=self.read_resource,
                on_subscribe_resource=self.subscribe_resource,
                on_unsubscribe_resource=self.unsubscribe_resource,
                on_subscriptions_listen=ListenHandler(self.bus),
                on_completion=self.complete,
                on_set_logging_level=self.set_logging_level,
            )
        if not sdk.tracing_wanted():
            sdk.drop_tracing(self.server)
        self.server.middleware.append(self._track_connection)
        # 2026-07-28 input requests: requestState is sealed on the way out, verified on the way in.
        self.server.middleware.append(client_input.request_state_boundary())
        tasks.install(self)
        registry.add_listener(self.tools_changed)
        self.providers.add_listener(self._provider_changed)

    def close(self) -> None:
        registry.remove_listener(self.tools_changed)
        self.providers.remove_listener(self._provider_changed)

    # --- list_changed --------------------------------------------------------------------

    def tools_changed(self) -> None:
        """Registry listener (any thread): tell every connected client the tool list changed."""
        self.bus.publish_threadsafe(ToolsListChanged())
        self._notify_connections("notifications/tools/list_changed")

    def _provider_changed(self, kind: str) -> None:
        """Provider listener (any thread): a provider's prompt list changed. (Resource lists
        are the caller's executions, which change with every call: not announced.)"""
        if kind == "prompts":
            self.bus.publish_threadsafe(PromptsListChanged())
            self._notify_connections("notifications/prompts/list_changed")

    def _notify_connections(self, method: str) -> None:
        with self._lock:
            targets = list(self._connections.items())
        for conn, loop in targets:
            if not loop.is_closed():
                asyncio.run_coroutine_threadsafe(conn.notify(method, None), loop)

    async def _track_connection(self, ctx: ServerRequestContext[Any], call_next: Any) -> Any:
        """Server middleware: remember handshake-era connections that can take notifications."""
        result = await call_next(ctx)
        conn = connection_of(ctx)
        if (
            conn is not None
            and conn.protocol_version not in MODERN_PROTOCOL_VERSIONS
            and conn.has_standalone_channel
            and conn not in self._connections
        ):
            with self._lock:
                self._connections[conn] = asyncio.get_running_loop()
            conn.exit_stack.callback(self._forget, conn)
        return result

    def _forget(self, conn: Connection) -> None:
        with self._lock:
            self._connections.pop(conn, None)

    # --- who is calling --------------------------------------------------------------------

    async def caller(self, ctx: ServerRequestContext[Any]) -> Caller:
        if ctx.request is None:
            if self.stdio_caller is None:
                raise MCPError(types.INVALID_REQUEST, "No caller: this server needs a token.")
            if self.stdio_caller.token is not None:
                # Expired or revoked since the process started: refused from now on.
                try:
                    await database_sync_to_async(principal_for_token)(self.stdio_caller.token, door_url=None)
                except TokenRefused as exc:
                    raise MCPError(types.INVALID_REQUEST, f"Unauthorized: {exc.description}") from None
            return self.stdio_caller
        conn = connection_of(ctx)
        scope_user = ctx.request.scope.get("user")
        token = scope_user.access_token if isinstance(scope_user, AuthenticatedUser) else None
        if token is not None and not token.subject:
            raise MCPError(types.INVALID_REQUEST, "Unauthorized: the token names no user.")
        user_id = int(token.subject) if token is not None and token.subject else None
        # Read per request: the session may outlive a token, and its successor may differ.
        scopes = frozenset(token.scopes) if token is not None else None
        client = _client_info(conn)
        if conn is not None and conn.session_id is not None:
            # A stateful HTTP session: one hub Session for its lifetime.
            # The session manager lets only the token that opened a session use it.
            cached = conn.state.get("hub.caller")
            if cached is not None:
                return Caller(cached.user, cached.session, scopes)
            user = await _load_user(user_id)
            session = await database_sync_to_async(services.session_start)(
                user=user, kind=Session.Kind.MCP,
                client_info={**client, "mcp_session_id": conn.session_id, "transport": "streamable-http"},
            )
            caller = Caller(user, session, scopes)
            conn.state["hub.caller"] = caller
            metrics.OPEN_MCP_SESSIONS.inc()
            conn.exit_stack.push_async_callback(_end_session, session)
            return caller
        # Stateless requests (2026-07-28, or MCP_STATELESS): a Session per client and
        # user, kept while it is used. Who calls and the session come from this process's
        # caches when it has seen them: no database on the common path.
        principal = ctx.request.scope.get("mcpsite.principal")
        user = principal.user if principal is not None else await _load_user(user_id)
        session = services.session_known(
            user=user, kind=Session.Kind.MCP, client=_stateless_client(client),
            idle_timeout=settings.MCP_SESSION_IDLE_TIMEOUT,
        ) or await database_sync_to_async(_stateless_session)(user, client)
        return Caller(user, session, scopes)

    # --- tools ---------------------------------------------------------------------------

    def _input_schema(self, name: str) -> dict[str, Any] | None:
        tool = registry.get(name)
        return tool.input_schema if tool is not None else None

    async def list_tools(self, ctx: ServerRequestContext[Any], params: Any) -> types.ListToolsResult:
        caller = await self.caller(ctx)
        try:
            tools = await database_sync_to_async(policy.tools_for_user)(caller.user, scopes=caller.scopes)
        except policy.ScopeMissing as exc:
            raise MCPError(types.INVALID_REQUEST, exc.message) from None
        return types.ListToolsResult(tools=[_mcp_tool(t) for t in tools])

    async def call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        caller = await self.caller(ctx)
        tool = registry.get(params.name)
        as_task = tasks.runs_as_task(ctx, tool, _is_modern(ctx))
        state = client_input.read_state(params.request_state) if _is_modern(ctx) else {}
        if as_task and tool is not None and tool.asks_before_task and isinstance(state.get("execution"), str):
            # Its questions were asked while the client waited; answered, the call becomes a task.
            answers = client_input.wire_answers(params.input_responses)
            created = await tasks.task_after_answers(caller, state["execution"], answers)
            if created is not None:
                return created  # type: ignore[return-value]
            as_task = False  # questions remain: ask them again below
        if as_task and not (tool is not None and tool.asks_before_task):
            try:
                return await tasks.task_create(caller, params)  # type: ignore[return-value]
            except policy.ExecutionRejected as exc:
                return _refused(exc, params.name)
        loop = asyncio.get_running_loop()
        # 2026-07-28: the tool's questions to the client come back as an InputRequiredResult.
        asked: InputRound | None = None
        resume: str | None = None
        if _is_modern(ctx):
            resume = state.get("execution") if isinstance(state.get("execution"), str) else None
            answers = await database_sync_to_async(_stored_answers)(resume) if resume else {}
            asked = InputRound(
                capabilities=client_input.client_capabilities(ctx),
                answers={**answers, **client_input.wire_answers(params.input_responses)},
            )
        notifier = _Notifier(ctx, await self._log_threshold(ctx))
        # Background tools on a worker: the client waits for the result, with its progress.
        call = DoorCall(on_event=notifier.send, wait_for_worker=True)

        def client_request(method: str, request_params: dict[str, Any]) -> dict[str, Any]:
            return on_loop(loop, _client_request(ctx, method, request_params))

        if ctx.close_sse_stream is not None:
            close_stream = ctx.close_sse_stream

            async def close() -> None:
                await close_stream()

            client_request.release_stream = lambda: on_loop(loop, close(), timeout=10)  # type: ignore[attr-defined]
        client_request.declares = lambda capability: ctx.session.check_client_capability(  # type: ignore[attr-defined]
            types.ClientCapabilities.model_validate({capability: {}})
        )

        try:
            execution = await call.run(
                user=caller.user, tool_name=params.name, arguments=params.arguments or {}, via="mcp",
                session=caller.session, scopes=caller.scopes,
                client_request=client_request if asked is None else None, client_input=asked, resume=resume,
            )
        except policy.ExecutionRejected as exc:
            return _refused(exc, params.name)
        except asyncio.CancelledError:
            # notifications/cancelled, or the client went away: end the execution as cancelled.
            await call.abandon(caller.user)
            raise
        if asked is not None and asked.missing_capability is not None:
            capability = asked.missing_capability
            raise MCPError(
                types.MISSING_REQUIRED_CLIENT_CAPABILITY,
                f"Tool {params.name!r} needs the client capability {capability!r}, which the request did not declare.",
                {"requiredCapabilities": {capability: {}}},
            )
        if asked is not None and asked.answers:
            await database_sync_to_async(_keep_answers)(execution, asked.answers)
        if asked is not None and execution.status == ToolExecution.Status.INPUT_REQUIRED:
            return client_input.input_required_result(execution.input_requests or {}, {"execution": str(execution.id)})
        return call_result(registry.get(execution.tool_name), execution)

    async def _log_threshold(self, ctx: ServerRequestContext[Any]) -> str:
        conn = connection_of(ctx)
        if conn is not None and conn.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            return conn.state.get("hub.log_level", "info")
        return "debug"  # 2026-07-28: the SDK applies the request's own opt-in level

    async def set_logging_level(
        self, ctx: ServerRequestContext[Any], params: types.SetLevelRequestParams
    ) -> types.EmptyResult:
        conn = connection_of(ctx)
        if conn is not None:
            conn.state["hub.log_level"] = params.level
        return types.EmptyResult()

    # --- prompts (from the providers, in order) ----------------------------------------------

    async def list_prompts(self, ctx: ServerRequestContext[Any], params: Any) -> types.ListPromptsResult:
        caller = await self.caller(ctx)
        listed = await _gather(provider.list_prompts(caller) for provider in self.providers)
        return types.ListPromptsResult.model_validate({"prompts": listed})

    async def get_prompt(
        self, ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult | types.InputRequiredResult:
        caller = await self.caller(ctx)
        values = {k: str(v) for k, v in (params.arguments or {}).items()}
        # A prompt has no execution row: on 2026-07-28 its answers ride the sealed state.
        asked = self._input_round(ctx, params) if _is_modern(ctx) else None
        for provider in self.providers:
            try:
                rendered = await provider.get_prompt(params.name, values, caller, asked)
            except InputRequired as exc:
                assert asked is not None
                return client_input.input_required_result(exc.requests, {"answers": asked.used})
            except (ToolError, ValueError) as exc:
                if asked is not None and asked.missing_capability is not None:
                    raise MCPError(
                        types.MISSING_REQUIRED_CLIENT_CAPABILITY, str(exc),
                        {"requiredCapabilities": {asked.missing_capability: {}}},
                    ) from None
                raise MCPError(types.INVALID_PARAMS, str(exc)) from None
            if rendered is not None:
                return types.GetPromptResult.model_validate(rendered)
        raise MCPError(types.INVALID_PARAMS, f"Unknown prompt: {params.name!r}.")

    def _input_round(self, ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams) -> InputRound:
        state = client_input.read_state(params.request_state)
        stored = state.get("answers") if isinstance(state.get("answers"), dict) else {}
        return InputRound(
            capabilities=client_input.client_capabilities(ctx),
            answers={**(stored or {}), **client_input.wire_answers(params.input_responses)},
        )

    async def complete(
        self, ctx: ServerRequestContext[Any], params: types.CompleteRequestParams
    ) -> types.CompleteResult:
        await self.caller(ctx)
        ref = params.ref
        choices: list[str] = []
        if isinstance(ref, types.PromptReference):
            for provider in self.providers:
                provided = await provider.complete(ref.name, params.argument.name)
                if provided is not None:
                    choices = provided
                    break
        typed = params.argument.value.lower()
        values = [c for c in choices if c.lower().startswith(typed)][:100]
        completion = {"values": values, "total": len(values), "hasMore": False}
        return types.CompleteResult.model_validate({"completion": completion})

    # --- resources (from the providers, in order) --------------------------------------------

    async def list_resources(self, ctx: ServerRequestContext[Any], params: Any) -> types.ListResourcesResult:
        caller = await self.caller(ctx)
        with _scope_refusal():
            resources = await _gather(provider.list_resources(caller) for provider in self.providers)
        return types.ListResourcesResult.model_validate({"resources": resources})

    async def list_resource_templates(
        self, ctx: ServerRequestContext[Any], params: Any
    ) -> types.ListResourceTemplatesResult:
        caller = await self.caller(ctx)
        templates = await _gather(provider.list_resource_templates(caller) for provider in self.providers)
        return types.ListResourceTemplatesResult.model_validate({"resourceTemplates": templates})

    async def read_resource(
        self, ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        caller = await self.caller(ctx)
        uri = str(params.uri)
        with _scope_refusal():
            for provider in self.providers:
                try:
                    contents = await provider.read_resource(uri, caller)
                except ResourceNotFound:
                    break
                if contents is not None:
                    return types.ReadResourceResult.model_validate({"contents": contents})
        raise _resource_not_found(ctx, uri)

    async def subscribe_resource(
        self, ctx: ServerRequestContext[Any], params: types.SubscribeRequestParams
    ) -> types.EmptyResult:
        """Handshake era: ``notifications/resources/updated`` when a subscribed resource
        changes (an execution: when it ends)."""
        caller = await self.caller(ctx)
        conn = connection_of(ctx)
        uri = str(params.uri)
        if conn is None:
            return types.EmptyResult()
        watched: dict[str, asyncio.Task[None] | None] = conn.state.setdefault("hub.subscriptions", {})
        if not watched:
            conn.exit_stack.callback(_cancel_watches, watched)
        if uri in watched:
            return types.EmptyResult()
        change = None
        with _scope_refusal():
            for provider in self.providers:
                try:
                    change = await provider.watch_resource(uri, caller)
                except ResourceNotFound:
                    raise MCPError(RESOURCE_NOT_FOUND, f"Resource not found: {uri}", {"uri": uri}) from None
                if change is not None:
                    break
        task = asyncio.get_running_loop().create_task(_notify_when_changed(conn, uri, change)) if change else None
        watched[uri] = task
        return types.EmptyResult()

    async def unsubscribe_resource(
        self, ctx: ServerRequestContext[Any], params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
        await self.caller(ctx)
        conn = connection_of(ctx)
        if conn is not None:
            task = conn.state.get("hub.subscriptions", {}).pop(str(params.uri), None)
            if task is not None:
                task.cancel()
        return types.EmptyResult()


async def _notify_when_changed(conn: Connection, uri: str, change: Awaitable[object]) -> None:
    try:
        await change
        await conn.send_resource_updated(uri)
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.warning("watching %s for its subscriber failed", uri, exc_info=True)


def _cancel_watches(watched: dict[str, asyncio.Task[None] | None]) -> None:
    for task in watched.values():
        if task is not None:
            task.cancel()


# --- helpers ---------------------------------------------------------------------------------


async def _gather(lists: Iterable[Coroutine[Any, Any, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """The providers' lists, one after the other, in the providers' order."""
    items: list[dict[str, Any]] = []
    for listed in lists:
        items += await listed
    return items


@contextlib.contextmanager
def _scope_refusal() -> Iterator[None]:
    """A provider's refusal for a missing token scope, as the JSON-RPC error (over HTTP,
    http.py answers 403 before the request gets here)."""
    try:
        yield
    except policy.ScopeMissing as exc:
        raise MCPError(types.INVALID_REQUEST, exc.message) from None


def _is_modern(ctx: ServerRequestContext[Any]) -> bool:
    conn = connection_of(ctx)
    return conn is not None and conn.protocol_version in MODERN_PROTOCOL_VERSIONS


def _resource_not_found(ctx: ServerRequestContext[Any], uri: str) -> MCPError:
    # 2026-07-28 (SEP-2164) answers a missing resource with Invalid Params; earlier
    # versions with the -32002 their clients know.
    code = types.INVALID_PARAMS if _is_modern(ctx) else RESOURCE_NOT_FOUND
    return MCPError(code, f"Resource not found: {uri}", {"uri": uri})


def _stored_answers(execution_id: str) -> dict[str, Any]:
    answers = ToolExecution.objects.filter(pk=execution_id).values_list("input_responses", flat=True).first()
    return answers if isinstance(answers, dict) else {}


def _keep_answers(execution: ToolExecution, answers: dict[str, Any]) -> None:
    """Store the client's answers on the row: for the tool's next run while it waits, and
    as the record of what the client answered once it has ended."""
    ToolExecution.objects.filter(pk=execution.pk).update(input_responses=answers)


def _client_info(conn: Connection | None) -> dict[str, Any]:
    if conn is None:
        return {}
    params = conn.client_params
    if params is None:
        return {"protocol_version": conn.protocol_version}
    return {
        "name": params.client_info.name,
        "version": params.client_info.version,
        "protocol_version": conn.protocol_version,
    }


def _version() -> str:
    # The same version the REST API's OpenAPI schema states.
    return str(settings.SPECTACULAR_SETTINGS.get("VERSION", ""))


async def _load_user(user_id: int | None) -> User:
    if user_id is None:
        from mcp_server.auth import anonymous_user

        return await database_sync_to_async(anonymous_user)()
    return await database_sync_to_async(User.objects.get)(pk=user_id)


async def _end_session(session: Session) -> None:
    metrics.OPEN_MCP_SESSIONS.dec()
    await database_sync_to_async(services.session_end)(session=session)


def _stateless_client(client: dict[str, Any]) -> str:
    return f"mcp-stateless:{client.get('name', '')}"


def _stateless_session(user: User, client: dict[str, Any]) -> Session:
    name = client.get("name", "")
    return services.session_for_client(
        user=user, kind=Session.Kind.MCP, client=_stateless_client(client),
        client_info={**client, "name": name, "transport": "streamable-http (stateless)"},
        idle_timeout=settings.MCP_SESSION_IDLE_TIMEOUT,
    )


def _mcp_tool(tool: Tool) -> types.Tool:
    described: dict[str, Any] = {
        "name": tool.name,
        "title": tool.title or None,
        "description": tool.description or tool.title or tool.name,
        "inputSchema": tool.input_schema,
        "annotations": {"title": tool.title or None, **tool.annotations.as_mcp()},
    }
    if tool.output_schema is not None:
        described["outputSchema"] = tool.output_schema
    if tool.effective_task_support != "forbidden":
        described["execution"] = {"taskSupport": tool.effective_task_support}
    return types.Tool.model_validate(described)


def _refused(exc: policy.ExecutionRejected, tool_name: str) -> types.CallToolResult:
    """A call refused before it ran: an unknown tool is a JSON-RPC error (invalid params),
    any other refusal a tool error the model can read."""
    if isinstance(exc, policy.ToolNotFound):
        raise MCPError(types.INVALID_PARAMS, exc.message) from None
    if isinstance(exc, policy.ArgumentsInvalid):
        return error_result(f"{exc.message} (tool {tool_name})")
    return error_result(exc.message)


async def _client_request(ctx: ServerRequestContext[Any], method: str, params: dict[str, Any]) -> dict[str, Any]:
    """A tool's request to the caller's client, on this call's own stream."""
    kinds: dict[str, tuple[Any, Any, str]] = {
        "sampling/createMessage": (types.CreateMessageRequest, types.CreateMessageResult, "sampling"),
        "elicitation/create": (types.ElicitRequest, types.ElicitResult, "elicitation"),
        "roots/list": (types.ListRootsRequest, types.ListRootsResult, "roots"),
    }
    if method not in kinds:
        raise ToolError(f"Tools cannot send {method} to the client.")
    request_type, result_type, capability = kinds[method]
    if not ctx.session.check_client_capability(types.ClientCapabilities.model_validate({capability: {}})):
        raise ToolError(f"The client does not support {capability}.")
    try:
        request = request_type.model_validate({"method": method, "params": params or None})
        result = await ctx.session.send_request(
            request, result_type, metadata=ServerMessageMetadata(related_request_id=ctx.request_id)
        )
    except MCPError as exc:
        raise ToolError(f"The client refused {method}: {exc.error.message}") from None
    except Exception as exc:
        raise ToolError(f"{method} failed: {exc}") from None
    return result.model_dump(by_alias=True, mode="json", exclude_none=True)


class _Notifier:
    """A call's progress and log events as MCP notifications (``DoorCall`` keeps their order)."""

    def __init__(self, ctx: ServerRequestContext[Any], log_threshold: str) -> None:
        self.ctx = ctx
        self.threshold = LOG_LEVELS.index(log_threshold) if log_threshold in LOG_LEVELS else 1

    async def send(self, event: dict[str, Any]) -> None:
        try:
            await self._send(event)
        except Exception:
            # A client that went away must not fail the call.
            logger.debug("could not send a notification", exc_info=True)

    async def _send(self, event: dict[str, Any]) -> None:
        if event["type"] == "execution.progress":
            await self.ctx.session.report_progress(event["progress"], event.get("total"), event.get("message"))
        elif event["type"] == "execution.log":
            level = str(event.get("level", "info")).lower()
            level = _LEVEL_ALIASES.get(level, level)
            if level not in LOG_LEVELS or LOG_LEVELS.index(level) < self.threshold:
                return
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", MCPDeprecationWarning)
                await self.ctx.session.send_log_message(
                    cast(types.LoggingLevel, level), event.get("message", ""),
                    logger="mcpsite.tools", related_request_id=self.ctx.request_id,
                )
