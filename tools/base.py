"""The ``Tool`` base class and the context a tool runs with.

A tool declares what it is (name, schema, annotations, mode, limits) and implements
``run(arguments, ctx)``. It never knows which door the call came through or which
process it runs in: the execution service gives it validated arguments and a
``ToolContext`` that works the same inline, in a Celery worker and for remote tools.
"""

from __future__ import annotations

import enum
import functools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import jsonschema
from pydantic import BaseModel, ValidationError

if TYPE_CHECKING:
    from accounts.models import User


class Mode(enum.StrEnum):
    INLINE = "inline"
    BACKGROUND = "background"


class Role(enum.StrEnum):
    USER = "user"
    ADMIN = "admin"


class ToolError(Exception):
    """A failure the tool reports to its caller as a readable message (status ``error``)."""


class ToolCancelled(Exception):
    """Raised by ``ctx.raise_if_cancelled()`` once the execution was cancelled or timed out."""


class InvalidArguments(Exception):
    """The arguments do not match the tool's input schema; ``errors`` says where and why."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e['loc']}: {e['msg']}" if e["loc"] else e["msg"] for e in errors))


@dataclass(frozen=True)
class Annotations:
    """MCP tool annotations (hints to clients; the hub enforces nothing from them)."""

    read_only: bool = False
    destructive: bool = False
    idempotent: bool = False
    open_world: bool = False

    def as_mcp(self) -> dict[str, bool]:
        return {
            "readOnlyHint": self.read_only,
            "destructiveHint": self.destructive,
            "idempotentHint": self.idempotent,
            "openWorldHint": self.open_world,
        }


ProgressCallback = Callable[[float, float | None, str | None], None]
LogCallback = Callable[[str, str], None]
# Sends a request to the client of the door the call came through (MCP sampling or
# elicitation) and returns its result; given only by doors that have such a client.
ClientRequest = Callable[[str, dict[str, Any]], dict[str, Any]]
# Asks the client several things at once, {key: (method, params)} -> {key: result}: how a
# door without a back-channel (MCP 2026-07-28, tasks) answers ``ask_client``. It either
# returns every answer or raises ``InputRequired`` with the questions still open.
ClientInput = Callable[[dict[str, tuple[str, dict[str, Any]]]], dict[str, dict[str, Any]]]


class InputRequired(BaseException):
    """The client must answer ``requests`` ({key: {"method", "params"}}) before the tool
    can go on: the run ends here and the tool runs again, from the start, with the answers.

    A ``BaseException`` so that a tool's own ``except Exception`` cannot swallow it.
    """

    def __init__(self, requests: dict[str, dict[str, Any]]) -> None:
        self.requests = requests
        super().__init__(f"input required: {', '.join(requests)}")


class MissingClientCapability(ToolError):
    """The tool needs a client capability (sampling, elicitation, roots) the client did not declare."""

    def __init__(self, capability: str) -> None:
        self.capability = capability
        super().__init__(f"The client did not declare the {capability!r} capability this tool needs.")


class SubcallRunner(Protocol):
    """What ``ctx.call_tool`` hands a sub-call to: the execution service's policy and
    records (``executions.subcalls``), or the pipe to them from a tool process."""

    def call(self, ctx: ToolContext, name: str, arguments: dict[str, Any]) -> Any: ...


@dataclass
class ToolContext:
    """What a running tool may use: who asked, progress, logs and cancellation."""

    user: User | None
    execution_id: str
    on_progress: ProgressCallback | None = None
    on_log: LogCallback | None = None
    # Set by the service on timeout, or when it sees the execution's row cancelled (the
    # service polls the database; the tool's own thread never has to).
    cancel_event: threading.Event = field(default_factory=threading.Event)
    client_request: ClientRequest | None = None
    client_input: ClientInput | None = None
    # Runs ctx.call_tool where the call runs (executions.subcalls); None: no other tools here.
    subcalls: SubcallRunner | None = None
    # How many questions this run asked: the default keys of ``ask_client`` are numbered,
    # so that a run replayed with the answers asks the same keys in the same order.
    _asked: int = 0

    def report_progress(self, done: float, total: float | None = None, message: str | None = None) -> None:
        if self.on_progress is not None:
            self.on_progress(done, total, message)

    def log(self, level: str, message: str) -> None:
        if self.on_log is not None:
            self.on_log(level, message)

    def ask_client(self, method: str, params: dict[str, Any], *, key: str | None = None) -> dict[str, Any]:
        """Send a request (``sampling/createMessage``, ``elicitation/create``, ``roots/list``)
        to the caller's MCP client and return its result. Raises ``ToolError`` where the door
        has no such client (REST, WebSocket) or the client refuses.

        On MCP 2026-07-28 and in tasks the question goes back to the client as an input
        request and the tool runs again from the start once it is answered: do work with
        side effects after the questions. ``key`` names the question on the wire."""
        if key is None:
            self._asked += 1
            key = f"{method.split('/')[0]}-{self._asked}"
        return self.ask_client_many({key: (method, params)})[key]

    def release_client_stream(self) -> bool:
        """Let go of the caller's response stream while the call goes on (SSE polling,
        SEP-1699): an MCP 2025-11-25 client reconnects with ``Last-Event-ID`` and gets the
        result then. Returns False where the door has no such stream."""
        release = getattr(self.client_request, "release_stream", None)
        if release is None:
            return False
        release()
        return True

    def client_can(self, capability: str) -> bool:
        """Whether the caller's client declared ``capability`` ("sampling", "elicitation",
        "roots"), so that a tool can ask only what the client can answer."""
        door = self.client_input if self.client_input is not None else self.client_request
        declares = getattr(door, "declares", None)
        if declares is not None:
            return bool(declares(capability))
        return door is not None

    def ask_client_many(self, requests: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
        """Ask several questions at once ({key: (method, params)}); returns {key: result}.
        Where the client can be asked only one thing at a time they are asked in turn."""
        if self.client_input is not None:
            return self.client_input(requests)
        if self.client_request is None:
            methods = ", ".join(sorted({method for method, _ in requests.values()}))
            raise ToolError(f"This call came through a door that cannot send {methods} to its client.")
        return {key: self.client_request(method, params) for key, (method, params) in requests.items()}

    def call_tool(self, name: str, arguments: dict[str, Any]) -> Any:
        """Run another tool as a child of this call and return its result (JSON).

        The child goes through the same policy as a call from a door (enabled, role and
        groups, arguments, rate limit) for this call's user, and is recorded as a child
        execution. A refusal or a failure of the child raises ``ToolError``; a
        cancellation of this call stops the child too."""
        if self.subcalls is None:
            raise ToolError(f"{name} cannot be called from here: this call runs no other tools.")
        return self.subcalls.call(self, name, arguments)

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def raise_if_cancelled(self) -> None:
        if self.cancelled:
            raise ToolCancelled("The execution was cancelled.")



@functools.cache
def _model_schema(model: type[BaseModel]) -> dict[str, Any]:
    # Pydantic builds a schema anew on each call: a call needs its tool's twice (the
    # SDK's argument check, the result), which cost more than the tool itself (issue 10).
    return model.model_json_schema()

class Tool:
    """Base of every tool, built-in or remote.

    Built-ins set ``input_model`` (a pydantic model) and get their JSON Schema and
    validation from it. Remote tools set ``raw_input_schema`` and are validated with
    ``jsonschema``. ``run`` may be ``def`` or ``async def``; it returns a JSON-able
    dict (or a pydantic model) that is the structured result.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    input_model: ClassVar[type[BaseModel] | None] = None
    output_model: ClassVar[type[BaseModel] | None] = None
    annotations: ClassVar[Annotations] = Annotations()
    mode: ClassVar[Mode] = Mode.INLINE
    timeout: ClassVar[float | None] = None  # seconds; None means the setting's default
    cacheable: ClassVar[bool] = False
    cache_ttl: ClassVar[int | None] = None  # seconds; None means the setting's default
    required_role: ClassVar[Role] = Role.USER
    # Whether an MCP client may run the tool as a task (the tasks extension): "forbidden",
    # "optional" or "required". Empty: background tools optional, inline tools forbidden.
    task_support: ClassVar[str] = ""
    # A task tool whose first questions come before the work: they are asked while the
    # client waits (input requests), and the call becomes a task once they are answered.
    asks_before_task: ClassVar[bool] = False
    # Where the tool comes from: "builtin", or the remote server's name.
    source: ClassVar[str] = "builtin"
    # Whether the tool's code runs in a tool process (executions.toolpool), where a
    # timeout or cancellation kills it for real. Only remote tools, which are I/O on
    # the federation loop of the serving process, run there instead.
    runs_in_process: ClassVar[bool] = True

    # For remote tools, which have no pydantic model.
    raw_input_schema: dict[str, Any] | None = None
    raw_output_schema: dict[str, Any] | None = None

    @property
    def input_schema(self) -> dict[str, Any]:
        """The JSON Schema of the arguments (shared: do not change it)."""
        if self.input_model is not None:
            return _model_schema(self.input_model)
        return self.raw_input_schema or {"type": "object", "properties": {}}

    @property
    def output_schema(self) -> dict[str, Any] | None:
        """The JSON Schema of the structured result (shared: do not change it)."""
        if self.output_model is not None:
            return _model_schema(self.output_model)
        return self.raw_output_schema

    @property
    def effective_task_support(self) -> str:
        if self.task_support:
            return self.task_support
        return "optional" if self.mode == Mode.BACKGROUND else "forbidden"

    @property
    def available(self) -> bool:
        """False while the tool cannot be called (a remote server is down)."""
        return True

    @property
    def unavailable_reason(self) -> str:
        return ""

    def validate(self, arguments: Any) -> Any:
        """Return the validated arguments, or raise ``InvalidArguments``."""
        if not isinstance(arguments, dict):
            raise InvalidArguments([{"loc": "", "msg": "arguments must be a JSON object"}])
        if self.input_model is not None:
            try:
                return self.input_model.model_validate(arguments)
            except ValidationError as exc:
                raise InvalidArguments(
                    [
                        {"loc": ".".join(str(p) for p in err["loc"]), "msg": err["msg"]}
                        for err in exc.errors(include_url=False)
                    ]
                ) from None
        validator = jsonschema.Draft202012Validator(self.input_schema)
        errors = sorted(validator.iter_errors(arguments), key=lambda e: list(e.path))
        if errors:
            raise InvalidArguments(
                [{"loc": ".".join(str(p) for p in e.path), "msg": e.message} for e in errors]
            )
        return arguments

    def run(self, arguments: Any, ctx: ToolContext) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement run()")

    def mcp_content(self, result: Any) -> list[dict[str, Any]]:
        """The stored result as MCP content blocks: by default its JSON as one text block
        (beside the structured content). Tools whose result is content override this."""
        return [{"type": "text", "text": json.dumps(result, ensure_ascii=False)}]

    def describe(self) -> dict[str, Any]:
        """The tool as the REST API and the task pane list it."""
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "input_schema": self.input_schema,
            "output_schema": self.output_schema,
            "annotations": self.annotations.as_mcp(),
            "mode": str(self.mode),
            "source": self.source,
            "available": self.available,
        }
