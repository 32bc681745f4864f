"""The Word Add-in's WebSocket door at /ws/addin/ (protocol in DESIGN.md).

The consumer only translates frames to and from the execution service. Tool calls run
on threads of their own (``executions.calls.DoorCall``, ``on_a_thread``) so that one socket
can have several calls in flight and still answer ``execution_cancel`` and ``ping``.

A call the pane started may ask the person at the pane (elicitation in form mode, from a
remote server or a tool's ``ctx.ask_client``): the question goes out as an
``elicitation`` frame and the call's thread waits for the ``elicitation_answer`` frame.
A question still open when its call ends, is cancelled, or the socket closes is
answered ``{"action": "cancel"}`` (or, when the call is cancelled, with a tool error).

Events of an execution reach the socket through ``executions.events``: its listener in
this process for a call that runs here (an inline tool, eager Celery), and ``follow``
(Redis pub/sub) for one that runs in a worker or was started through another process
(a pane that reconnected here).

Close codes (also in the README):
    4001  not authenticated: bad token, or no ``auth`` frame within ADDIN_WS_AUTH_TIMEOUT; or
          the token was revoked or expired, or its user deactivated, while the socket was
          open (an ``error`` frame with code ``unauthorized`` says which, then the close)
    1009  a frame larger than ADDIN_WS_MAX_FRAME_BYTES (daphne's own limit is 1 MiB)
A result too large for one frame comes as ``result_url`` (the REST API's execution)
instead of ``result``.
    4029  more frames than ADDIN_WS_RATE_LIMIT allows (a flood)
    4030  the token already holds ADDIN_WS_MAX_PER_TOKEN open sockets in this process
A foreign or missing Origin is refused at the handshake (HTTP 403).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from accounts import revocation
from accounts.models import User
from accounts.services import TokenRefused, principal_for_token
from executions import awaiting, events, metrics, policy, services
from executions.calls import DoorCall, EventPump, on_loop
from executions.models import Session, ToolExecution
from executions.selectors import execution_of_user
from mcpsite import jsonlimits
from realtime import elicitation
from tools.base import ClientRequest, ToolError
from tools.rates import parse_rate
from tools.registry import registry

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4001
CLOSE_TOO_LARGE = 1009
CLOSE_FLOOD = 4029
CLOSE_TOO_MANY_SOCKETS = 4030

# Signed-in sockets of this process per credential (fair shares: ADDIN_WS_MAX_PER_TOKEN).
_sockets_per_credential: dict[str, int] = {}

# A session's last_activity is written at most this often, not on every frame.
ACTIVITY_WRITE_SECONDS = 30.0

# Questions to the person at the pane open at once on one socket (each holds a call).
MAX_OPEN_QUESTIONS = 16
# How often a call waiting for the pane's answer looks at its cancel event.
ANSWER_WAIT_STEP_SECONDS = 0.1
DISMISSED = {"action": "cancel"}


class FrameError(Exception):
    """A bad frame: answered with an ``error`` frame, the socket stays open."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)


class TokenBucket:
    """Per-connection flood control: ``rate`` frames per ``period`` seconds, bursts up to ``rate``."""

    def __init__(self, rate: int, period: float) -> None:
        self.capacity = float(rate)
        self.tokens = float(rate)
        self.per_second = rate / period
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.per_second)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


@dataclass
class Question:
    """An ``elicitation/create`` shown in the pane; ``answer`` is what the asking call gets."""

    execution_id: str
    schema: dict[str, Any]
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    answer: concurrent.futures.Future[dict[str, Any]] = field(default_factory=concurrent.futures.Future)


def _execution_id(content: dict[str, Any]) -> str:
    value = content.get("execution_id")
    if value is None:
        raise FrameError("missing_field", "The frame needs an execution_id.")
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise FrameError("invalid_field", "execution_id is not a valid execution id.") from None


def result_frame(execution_id: str, status: str, result: Any, error: str) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "execution_result", "execution_id": execution_id, "status": status}
    if status == ToolExecution.Status.SUCCESS:
        frame["result"] = result
    else:
        frame["error"] = error
    return frame


def progress_frame(execution_id: str, progress: Any, total: Any, message: Any) -> dict[str, Any]:
    return {
        "type": "execution_progress", "execution_id": execution_id, "progress": progress, "total": total,
        "message": message or "",
    }


class AddinConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        self.user: User | None = None
        self.token: str | None = None
        self.scopes: frozenset[str] | None = None
        self.session: Session | None = None
        self.loop = asyncio.get_running_loop()
        rate = parse_rate(settings.ADDIN_WS_RATE_LIMIT)
        self.bucket = TokenBucket(*rate) if rate else None
        # execution id -> how to stop watching it
        self.watching: dict[str, Any] = {}
        self.finished: set[str] = set()
        self.progress_sent: dict[str, float] = {}
        self.cancel_events: dict[str, threading.Event] = {}
        self.questions: dict[str, Question] = {}  # question id -> open question
        self.calls: set[asyncio.Task[None]] = set()
        self.last_activity_write = time.monotonic()
        self.closing = False
        self.credential_groups: list[str] = []
        self.credential: str | None = None  # counted in _sockets_per_credential while open
        self.expiry_timer: asyncio.TimerHandle | None = None
        # Events of watched executions reach _deliver in order, from any thread.
        self.pump = EventPump(self._deliver, self.loop)
        metrics.OPEN_WEBSOCKETS.inc()  # down again in disconnect, which follows every connect
        await self.accept()
        self.auth_timer = self.loop.call_later(settings.ADDIN_WS_AUTH_TIMEOUT, self._auth_timed_out)

    def _auth_timed_out(self) -> None:
        if self.user is None and not self.closing:
            self._spawn(self._close(CLOSE_UNAUTHENTICATED))

    def _spawn(self, coro: Any) -> None:
        task = self.loop.create_task(coro)
        self.calls.add(task)
        task.add_done_callback(self.calls.discard)

    async def _close(self, code: int) -> None:
        if not self.closing:
            self.closing = True
            await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        if not hasattr(self, "pump"):
            return  # refused at the handshake (origin): connect never ran
        metrics.OPEN_WEBSOCKETS.dec()
        self.closing = True
        self.pump.stop()
        if self.credential is not None:
            left = _sockets_per_credential.pop(self.credential, 1) - 1
            if left > 0:
                _sockets_per_credential[self.credential] = left
            self.credential = None
        self.auth_timer.cancel()
        if self.expiry_timer is not None:
            self.expiry_timer.cancel()
        for group in self.credential_groups:
            await self.channel_layer.group_discard(group, self.channel_name)
        if self.user is not None:
            registry.remove_listener(self._tools_changed_threadsafe)
        for execution_id in list(self.watching):
            await self._unwatch(execution_id)
        # Nobody is left to answer: the calls hear that the person dismissed the form.
        for question in self.questions.values():
            _settle_future(question.answer, DISMISSED)
        self.questions.clear()
        # Calls in flight keep running: the add-in resumes them after reconnecting.
        for task in list(self.calls):
            task.cancel()
        if self.session is not None:
            await database_sync_to_async(services.session_end)(session=self.session)

    # --- Frames in ---------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        if self.closing:
            return
        size = len(text_data.encode()) if text_data is not None else len(bytes_data or b"")
        if size > settings.ADDIN_WS_MAX_FRAME_BYTES:
            await self._close(CLOSE_TOO_LARGE)
            return
        if self.bucket is not None and not self.bucket.take():
            await self._close(CLOSE_FLOOD)
            return
        request_id = None
        try:
            if text_data is None:
                raise FrameError("binary_frame", "Binary frames are not supported; send JSON text frames.")
            try:
                content = jsonlimits.loads(text_data)
            except jsonlimits.JSONRefused as exc:
                raise FrameError("invalid_json", f"The frame is not JSON the hub takes: {exc}") from None
            if not isinstance(content, dict):
                raise FrameError("invalid_frame", "A frame must be a JSON object with a type.")
            request_id = content.get("id")
            await self.receive_json(content)
        except FrameError as exc:
            await self._send_error(request_id, exc.code, exc.message)
        except policy.ExecutionRejected as exc:
            await self._send_error(request_id, exc.code, exc.message)

    async def receive_json(self, content: dict[str, Any], **kwargs: Any) -> None:
        kind = content.get("type")
        if not isinstance(kind, str) or not kind:
            raise FrameError("missing_field", "The frame needs a type.")
        if kind == "auth":
            await self._auth(content)
            return
        if self.user is None:
            raise FrameError("not_authenticated", "Send an auth frame with your token first.")
        handler = {
            "ping": self._ping,
            "tools_list": self._tools_list,
            "tool_execute": self._tool_execute,
            "execution_cancel": self._execution_cancel,
            "execution_subscribe": self._execution_subscribe,
            "elicitation_answer": self._elicitation_answer,
        }.get(kind)
        if handler is None:
            raise FrameError("unknown_type", f"Unknown frame type {kind!r}.")
        if kind != "ping" and not await self._token_still_valid(content):
            return
        await self._touch()
        await handler(content)

    def _door_url(self) -> str:
        """This socket's URL as an http(s) URL, for an OAuth token's resource (RFC 8707)."""
        headers = dict(self.scope.get("headers", []))
        host = headers.get(b"host", b"localhost").decode("latin1")
        scheme = "https" if self.scope.get("scheme") == "wss" else "http"
        return f"{scheme}://{host}{self.scope.get('path', '/ws/addin/')}"

    async def _token_still_valid(self, content: dict[str, Any]) -> bool:
        """An expired or revoked token ends the connection at its next frame (close 4001)."""
        try:
            await database_sync_to_async(principal_for_token)(self.token or "", door_url=self._door_url())
        except TokenRefused as exc:
            await self._send_error(
                content.get("id"), "unauthorized", f"The token is no longer valid: {exc.description}"
            )
            await self._close(CLOSE_UNAUTHENTICATED)
            return False
        return True

    async def _follow_credential(self, principal: Any) -> None:
        """Close this socket when its token is revoked or expires, or its user is
        deactivated (accounts.revocation), wherever that happens."""
        self.credential_groups = [revocation.user_group(principal.user.pk)]
        if principal.kind == "api_token" and principal.token_key:
            self.credential_groups.append(revocation.credential_group(principal.token_key))
        for group in self.credential_groups:
            await self.channel_layer.group_add(group, self.channel_name)
        if principal.expires_at is not None:
            delay = max(0.0, (principal.expires_at - timezone.now()).total_seconds())
            self.expiry_timer = self.loop.call_later(
                delay, lambda: self._spawn(self._end_for_credential("The token expired."))
            )

    async def credential_revoked(self, event: dict[str, Any]) -> None:
        """Channel-layer message from accounts.revocation."""
        await self._end_for_credential(str(event.get("reason") or "The token is no longer valid."))

    async def _end_for_credential(self, reason: str) -> None:
        if self.closing:
            return
        # The credential's inline calls stop with it (a reconnect cannot resume them).
        for cancel_event in self.cancel_events.values():
            cancel_event.set()
        await self._send_error(None, "unauthorized", f"{reason} Sign in again.")
        await self._close(CLOSE_UNAUTHENTICATED)

    async def _auth(self, content: dict[str, Any]) -> None:
        if self.user is not None:
            raise FrameError("already_authenticated", "This connection is already authenticated.")
        token = content.get("token")
        if not isinstance(token, str) or not token:
            raise FrameError("missing_field", "The auth frame needs a token.")
        try:
            principal = await database_sync_to_async(principal_for_token)(token, door_url=self._door_url())
        except TokenRefused as exc:
            await self._send_error(content.get("id"), "unauthorized", f"The token is not valid: {exc.description}")
            await self._close(CLOSE_UNAUTHENTICATED)
            return
        if _sockets_per_credential.get(principal.client_id, 0) >= settings.ADDIN_WS_MAX_PER_TOKEN:
            await self._send_error(
                content.get("id"), "too_many_connections",
                f"This token already has {settings.ADDIN_WS_MAX_PER_TOKEN} open task pane connections "
                "(ADDIN_WS_MAX_PER_TOKEN); close one first.",
            )
            await self._close(CLOSE_TOO_MANY_SOCKETS)
            return
        _sockets_per_credential[principal.client_id] = _sockets_per_credential.get(principal.client_id, 0) + 1
        self.credential = principal.client_id
        self.user, self.token, self.scopes = principal.user, token, principal.scopes
        self.auth_timer.cancel()
        await self._follow_credential(principal)
        headers = dict(self.scope.get("headers", []))
        client = content.get("client")
        client_info = {
            "origin": headers.get(b"origin", b"").decode("latin1"),
            "user_agent": headers.get(b"user-agent", b"").decode("latin1")[:300],
            "client": client if isinstance(client, (str, dict)) else "",
        }
        self.session = await database_sync_to_async(services.session_start)(
            user=self.user, kind=Session.Kind.ADDIN, client_info=client_info
        )
        registry.add_listener(self._tools_changed_threadsafe)
        await self.send_json(
            {"type": "authenticated", "id": content.get("id"), "user": principal.user.username,
             "session_id": str(self.session.pk)}
        )

    async def _touch(self) -> None:
        now = time.monotonic()
        if self.session is not None and now - self.last_activity_write > ACTIVITY_WRITE_SECONDS:
            self.last_activity_write = now
            await database_sync_to_async(_session_touch)(session=self.session)

    async def _ping(self, content: dict[str, Any]) -> None:
        await self.send_json({"type": "pong", "id": content.get("id")})

    async def _tools_list(self, content: dict[str, Any]) -> None:
        tools = await database_sync_to_async(_describe_tools)(self.user, self.scopes)
        await self.send_json({"type": "tools", "id": content.get("id"), "tools": tools})

    async def _tool_execute(self, content: dict[str, Any]) -> None:
        request_id = content.get("id")
        if request_id is None or not isinstance(request_id, (str, int)) or isinstance(request_id, bool):
            raise FrameError("missing_field", "tool_execute needs an id (string or number) to match the answers.")
        tool = content.get("tool")
        if not isinstance(tool, str) or not tool:
            raise FrameError("missing_field", "tool_execute needs the tool's name.")
        arguments = content.get("arguments", {})
        if not isinstance(arguments, dict):
            raise FrameError("invalid_field", "arguments must be a JSON object.")
        # Run as a task: this handler must return so the socket keeps reading frames.
        self._spawn(self._run_call(request_id, tool, arguments))

    async def _run_call(self, request_id: Any, tool: str, arguments: dict[str, Any]) -> None:
        async def accepted(execution: ToolExecution) -> None:
            # Before the tool starts: the socket announces and watches the execution, so
            # that no event of it goes past an unwatched socket.
            self.cancel_events[str(execution.id)] = call.cancel_event
            await self._accepted(request_id, str(execution.id), elsewhere=awaiting.runs_elsewhere(execution))

        # The socket follows the execution itself (a reconnected pane resumes it), so the
        # call lends it no event handler and does not wait for a worker.
        call = DoorCall(on_accepted=accepted)
        try:
            execution = await call.run(
                user=self.user, tool_name=tool, arguments=arguments, via="ws", session=self.session,
                scopes=self.scopes, client_request=self._client_request(call),
            )
        except policy.ExecutionRejected as exc:
            await self._send_error(request_id, exc.code, exc.message)
            return
        except Exception:
            logger.exception("tool_execute failed")
            await self._send_error(request_id, "internal_error", "The call failed on the server.")
            return
        finally:
            if call.execution is not None:
                self.cancel_events.pop(str(call.execution.id), None)
        if execution.is_final:
            # The result event may already have gone out; _deliver sends it once.
            await self._deliver(events.result_event(execution))

    async def _accepted(self, request_id: Any, execution_id: str, elsewhere: bool) -> None:
        await self.send_json({"type": "execution_accepted", "id": request_id, "execution_id": execution_id})
        await self._watch(execution_id, elsewhere=elsewhere)

    # --- Questions to the person at the pane (elicitation) ------------------------------------

    def _client_request(self, call: DoorCall) -> ClientRequest:
        """How an inline call of this socket asks the pane's user: form elicitation only.
        Runs on the call's thread (or its asker's) and waits there, never on the loop."""

        def ask(method: str, params: dict[str, Any]) -> dict[str, Any]:
            if method != "elicitation/create":
                raise ToolError(f"The task pane answers only form elicitation (elicitation/create), not {method}.")
            problem = elicitation.form_problem(params)
            if problem is not None:
                raise ToolError(problem)
            if call.execution is None:  # only a running tool asks, and its call is announced by then
                raise ToolError("The call has not started yet.")
            question = Question(execution_id=str(call.execution.id), schema=params["requestedSchema"])
            try:
                on_loop(self.loop, self._ask(question, params["message"]), timeout=30)
            except RuntimeError:
                return dict(DISMISSED)  # the socket's loop is gone
            while True:
                try:
                    return question.answer.result(timeout=ANSWER_WAIT_STEP_SECONDS)
                except concurrent.futures.TimeoutError:
                    if call.cancel_event.is_set():
                        self._withdraw_threadsafe(question)
                        raise ToolError("The call was cancelled while its question waited in the task pane.") from None

        ask.declares = lambda capability: capability == "elicitation"  # type: ignore[attr-defined]
        return ask

    async def _ask(self, question: Question, message: str) -> None:
        if self.closing or question.execution_id in self.finished:
            _settle_future(question.answer, DISMISSED)
            return
        if len(self.questions) >= MAX_OPEN_QUESTIONS:
            raise ToolError(f"The task pane already has {MAX_OPEN_QUESTIONS} open questions; answer those first.")
        frame = {
            "type": "elicitation", "execution_id": question.execution_id, "question_id": question.id,
            "message": message, "requested_schema": question.schema,
        }
        if len(await self.encode_json(frame)) > settings.ADDIN_WS_MAX_FRAME_BYTES:
            raise ToolError("The question is too large for the task pane.")
        self.questions[question.id] = question
        await self.send_json(frame)

    def _withdraw_threadsafe(self, question: Question) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: the socket, and the form with it, is gone
            self.loop.call_soon_threadsafe(lambda: self._spawn(self._settle(question.id, DISMISSED, "ended")))

    async def _settle(self, question_id: str, answer: dict[str, Any], reason: str, request_id: Any = None) -> None:
        """Give the asking call its answer and take the form away ("answered" or "ended")."""
        question = self.questions.pop(question_id, None)
        if question is None:
            return
        _settle_future(question.answer, answer)
        if not isinstance(request_id, (str, int)) or isinstance(request_id, bool):
            request_id = None
        if not self.closing:
            await self.send_json({
                "type": "elicitation_closed", "id": request_id, "execution_id": question.execution_id,
                "question_id": question_id, "reason": reason,
            })

    async def _elicitation_answer(self, content: dict[str, Any]) -> None:
        question_id = content.get("question_id")
        if not isinstance(question_id, str) or not question_id:
            raise FrameError("missing_field", "elicitation_answer needs the question_id.")
        question = self.questions.get(question_id)
        if question is None:
            raise FrameError("not_found", "No such open question: it was answered already, or its call ended.")
        try:
            answer = elicitation.answer_result(question.schema, content.get("action"), content.get("content"))
        except elicitation.AnswerRefused as exc:
            raise FrameError(exc.code, exc.message) from None
        await self._settle(question_id, answer, "answered", request_id=content.get("id"))

    async def _execution_cancel(self, content: dict[str, Any]) -> None:
        policy.scope_require(scopes=self.scopes, scope="tools:call")
        execution_id = _execution_id(content)
        execution = await database_sync_to_async(execution_of_user)(execution_id=execution_id, user=self.user)
        if execution is None:
            raise FrameError("not_found", "No such execution of yours.")
        if execution.is_final:
            raise FrameError("not_running", f"The execution has already ended ({execution.status}).")
        await self._watch(execution_id)
        event = self.cancel_events.get(execution_id)
        if event is not None:
            event.set()
        await database_sync_to_async(services.execution_cancel)(execution=execution, user=self.user)

    async def _execution_subscribe(self, content: dict[str, Any]) -> None:
        policy.scope_require(scopes=self.scopes, scope="executions:read")
        execution_id = _execution_id(content)
        execution = await database_sync_to_async(execution_of_user)(execution_id=execution_id, user=self.user)
        if execution is None:
            raise FrameError("not_found", "No such execution of yours.")
        if not execution.is_final:
            await self._watch(execution_id)
            # Read again after joining: it may have finished in between, and no event says so.
            execution = await database_sync_to_async(execution_of_user)(execution_id=execution_id, user=self.user)
            if execution is None:
                raise FrameError("not_found", "No such execution of yours.")
        if execution.is_final:
            self.finished.discard(execution_id)  # a replay for the client that asked
            await self._deliver(events.result_event(execution))
        elif execution.progress is not None:
            await self._deliver(
                {"type": "execution.progress", "execution_id": execution_id, "progress": execution.progress,
                 "total": execution.progress_total, "message": execution.progress_message}
            )

    # --- Watching executions ---------------------------------------------------------------

    async def _watch(self, execution_id: str, elsewhere: bool = True) -> None:
        """Deliver the execution's events to this socket. ``elsewhere=False``: it runs in
        this process (an inline call of this socket), whose events are all published here."""
        if execution_id in self.watching or self.closing:
            return
        if not elsewhere:
            self.watching[execution_id] = events.subscribe(execution_id, self.pump.put_threadsafe)
            return
        self.watching[execution_id] = None  # taken, while the follow is confirmed
        stop = await events.follow(execution_id, self.pump.put_threadsafe)
        if self.watching.get(execution_id, stop) is not None:  # unwatched or closed meanwhile
            stop()
        else:
            self.watching[execution_id] = stop

    async def _unwatch(self, execution_id: str) -> None:
        if execution_id not in self.watching:
            return
        stop = self.watching.pop(execution_id)
        if stop is not None:
            stop()

    async def _deliver(self, event: dict[str, Any]) -> None:
        execution_id = str(event.get("execution_id"))
        if self.closing or execution_id in self.finished:
            return
        kind = event.get("type")
        if kind == "execution.progress":
            # Progress only moves forward (a replayed row may be older than a live event).
            progress = event.get("progress")
            if isinstance(progress, (int, float)):
                if progress < self.progress_sent.get(execution_id, float("-inf")):
                    return
                self.progress_sent[execution_id] = progress
            await self.send_json(
                progress_frame(execution_id, event.get("progress"), event.get("total"), event.get("message"))
            )
        elif kind == "execution.result":
            self.finished.add(execution_id)
            for question in [q for q in self.questions.values() if q.execution_id == execution_id]:
                await self._settle(question.id, DISMISSED, "ended")
            frame = result_frame(execution_id, event.get("status", ""), event.get("result"), event.get("error") or "")
            if len(await self.encode_json(frame)) > settings.ADDIN_WS_MAX_FRAME_BYTES:
                # Larger than a frame may be (daphne's limit too): the client fetches it
                # from the REST API with the same token.
                del frame["result"]
                frame["result_url"] = reverse("api:execution-detail", args=[execution_id])
            await self.send_json(frame)
            await self._unwatch(execution_id)

    # --- Frames out ---------------------------------------------------------------------------

    def _tools_changed_threadsafe(self) -> None:
        if self.loop.is_closed():
            # The connection's loop ended without a disconnect (a dropped test or worker
            # shutdown): nobody is left to tell.
            registry.remove_listener(self._tools_changed_threadsafe)
            return
        self.loop.call_soon_threadsafe(lambda: self._spawn(self._send_tools_changed()))

    async def _send_tools_changed(self) -> None:
        if not self.closing:
            await self.send_json({"type": "tools_changed"})

    async def _send_error(self, request_id: Any, code: str, message: str) -> None:
        if self.closing:
            return
        if not isinstance(request_id, (str, int)) or isinstance(request_id, bool):
            request_id = None
        await self.send_json({"type": "error", "id": request_id, "code": code, "message": message})


def _settle_future(future: concurrent.futures.Future[dict[str, Any]], answer: dict[str, Any]) -> None:
    if not future.done():
        future.set_result(dict(answer))


def _describe_tools(user: Any, scopes: frozenset[str] | None) -> list[dict[str, Any]]:
    return [tool.describe() for tool in policy.tools_for_user(user, scopes=scopes)]


def _session_touch(*, session: Session) -> None:
    from django.utils import timezone

    Session.objects.filter(pk=session.pk).update(last_activity=timezone.now())
