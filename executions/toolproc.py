"""The tool process: the child side of ``executions.toolpool``.

A tool process runs one call at a time for the serving process that owns it. It talks
to its owner over one duplex pipe; every message is a tuple whose first item says what
it is:

    owner -> tool process   ("call", Call)                 run a tool
                            ("answer", ok, value)          the client's answer to an "ask"
    tool process -> owner   ("progress", done, total, message)
                            ("log", level, message)
                            ("ask", method, params)        ctx.ask_client; wait for "answer"
                            ("done", status, result_json, error, retire)
                            ("subcall_start", parent_id, tool, arguments)
                                                    ctx.call_tool: admit and record a
                                                    child execution; wait for "answer"
                                                    (ok: its id and the Tool; not ok:
                                                    the refusal)
                            ("subcall_end", execution_id, status, result_json, error)
                                                    the child ran here; record its end

The owner enforces the wall-clock timeout and cancellation by killing the process.
This side enforces the memory cap (``RLIMIT_AS``, for the process's life) and the CPU
cap (``RLIMIT_CPU``, moved forward before each call): both end the call as ``error``
with a readable message, and the process then exits (``retire``) so that the pool
replaces it with a clean one.

Nothing here touches the database: a tool gets its validated arguments and a context,
and reports back through the pipe.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import math
import resource
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from pydantic import BaseModel

from tools.base import (
    InputRequired,
    InvalidArguments,
    MissingClientCapability,
    Tool,
    ToolCancelled,
    ToolContext,
    ToolError,
)

logger = logging.getLogger(__name__)

SUCCESS, ERROR, CANCELLED = "success", "error", "cancelled"
# The tool asked its client questions (MCP 2026-07-28, tasks): the run ends, the answers rerun it.
INPUT_REQUIRED = "input_required"
# The tool raised an unexpected exception (not a reported ToolError): an MCP task says "failed".
CRASHED = "crashed"


# What a tool process is told of the user (``ctx.user``): who they are, not the model's
# whole state. The pickled model was most of a call's pickling in the serving process
# (35 us with it, 16 without), and it carried the password hash and login times, which
# no tool reads.
USER_FIELDS = ("id", "username", "email", "first_name", "last_name", "role", "is_staff", "is_superuser", "is_active")


@dataclass
class Call:
    """One tool call, as the owner sends it (pickled by the pipe)."""

    tool: Tool
    arguments: Any
    user: Any
    execution_id: str
    cpu_seconds: float
    max_result_bytes: int
    # The owner's tool settings at the time of the call (see toolpool.tool_settings).
    settings: dict[str, Any] = field(default_factory=dict)
    # The capabilities the caller's client declared (sampling, elicitation, roots), for ctx.client_can.
    client_capabilities: list[str] = field(default_factory=list)

    def __getstate__(self) -> dict[str, Any]:
        from accounts.models import User

        state = dict(self.__dict__)
        if isinstance(self.user, User):
            state["user"] = (User, tuple(getattr(self.user, name) for name in USER_FIELDS))
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if isinstance(state["user"], tuple):
            model, values = state["user"]
            user = model(**dict(zip(USER_FIELDS, values, strict=True)))
            user._state.adding = False  # a user who exists, as a row read from the database is
            state["user"] = user
        self.__dict__.update(state)


class CpuLimitExceeded(Exception):
    """Raised in the tool's thread by SIGXCPU when the call's CPU time is used up."""


def _on_sigxcpu(signum: int, frame: Any) -> None:
    raise CpuLimitExceeded


def _cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _limit_cpu(seconds: float | None) -> None:
    """Let the process use ``seconds`` more of CPU time from now (None: no limit)."""
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = resource.RLIM_INFINITY if not seconds else math.ceil(_cpu_used() + seconds)
    if hard != resource.RLIM_INFINITY and (soft == resource.RLIM_INFINITY or soft > hard):
        soft = hard
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _limit_memory(megabytes: int) -> None:
    if megabytes <= 0:
        return
    limit = megabytes * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


class _Owner:
    """The pipe to the serving process, as the tool's context sees it."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def progress(self, done: float, total: float | None, message: str | None) -> None:
        self.conn.send(("progress", done, total, message))

    def log(self, level: str, message: str) -> None:
        self.conn.send(("log", level, message))

    def ask_many(self, requests: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
        """ctx.ask_client_many: the owner answers them all, or says which are still open."""
        self.conn.send(("ask_many", requests))
        kind, ok, value = self.conn.recv()
        if kind != "answer":
            raise RuntimeError(f"unexpected message {kind!r} while waiting for the client's answers")
        if ok:
            return value
        if isinstance(value, dict) and "input_required" in value:
            raise InputRequired(value["input_required"])
        if isinstance(value, dict) and "missing_capability" in value:
            raise MissingClientCapability(value["missing_capability"])
        raise ToolError(value)

    def release_stream(self) -> None:
        self.conn.send(("release",))

    def call(self, ctx: ToolContext, name: str, arguments: dict[str, Any]) -> Any:
        """ctx.call_tool: the owner admits and records the child, its code runs here."""
        self.conn.send(("subcall_start", ctx.execution_id, name, arguments))
        kind, ok, value = self.conn.recv()
        if kind != "answer":
            raise RuntimeError(f"unexpected message {kind!r} while waiting for a sub-call's admission")
        if not ok:
            raise ToolError(value)
        child_id, tool = value

        def end(status: str, text: str | None, error: str) -> None:
            self.conn.send(("subcall_end", child_id, status, text, error))

        return run_child(ctx, execution_id=child_id, tool=tool, arguments=arguments, record_end=end)

    def ask(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.conn.send(("ask", method, params))
        kind, ok, value = self.conn.recv()
        if kind != "answer":  # the owner speaks this protocol only; anything else is a bug there
            raise RuntimeError(f"unexpected message {kind!r} while waiting for the client's answer")
        if not ok:
            raise ToolError(value)
        return value


def _apply_settings(values: dict[str, Any], applied: dict[str, Any]) -> None:
    from django.conf import settings

    for name, value in values.items():
        if applied.get(name, _MISSING) != value:
            setattr(settings, name, value)
            applied[name] = value


_MISSING = object()


def _result_text(result: Any) -> str:
    """The result as JSON text, exactly as the doors will send it (no NaN or infinity)."""
    if isinstance(result, BaseModel):
        result = result.model_dump(mode="json")
    return json.dumps(result, default=str, allow_nan=False)


def run_call(call: Call, owner: _Owner, memory_mb: int) -> tuple[str, str | None, str, bool]:
    """Run one call; return (status, result as JSON text, error, retire)."""
    capabilities = set(call.client_capabilities)

    def ask_many(requests: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
        return owner.ask_many(requests)

    ask_many.declares = capabilities.__contains__  # type: ignore[attr-defined]
    ask_many.release_stream = owner.release_stream  # type: ignore[attr-defined]

    def ask(method: str, params: dict[str, Any]) -> dict[str, Any]:
        return owner.ask(method, params)

    ask.release_stream = owner.release_stream  # type: ignore[attr-defined]
    ctx = ToolContext(
        user=call.user, execution_id=call.execution_id, on_progress=owner.progress, on_log=owner.log,
        client_request=ask, client_input=ask_many, subcalls=owner,
    )
    _limit_cpu(call.cpu_seconds)
    try:
        if inspect.iscoroutinefunction(call.tool.run):
            result = asyncio.run(call.tool.run(call.arguments, ctx))
        else:
            result = call.tool.run(call.arguments, ctx)
        try:
            text = _result_text(result)
        except ValueError as exc:
            return ERROR, None, f"The tool returned a result that is not JSON: {exc}", False
    except ToolCancelled:
        return CANCELLED, None, "Cancelled.", False
    except InputRequired as exc:
        return INPUT_REQUIRED, json.dumps(exc.requests), "", False
    except (ToolError, InvalidArguments) as exc:
        return ERROR, None, str(exc), False
    except CpuLimitExceeded:
        return ERROR, None, f"The tool used more than {call.cpu_seconds:g} s of CPU time and was stopped.", True
    except MemoryError:
        return ERROR, None, f"The tool needed more than the {memory_mb} MB of memory a tool process may use.", True
    except RecursionError:
        return ERROR, None, "The tool recursed too deeply on this input.", False
    except Exception as exc:
        logger.exception("tool %s failed", call.tool.name)
        return CRASHED, None, f"{type(exc).__name__}: {exc}", False
    finally:
        _limit_cpu(None)
    if len(text) > call.max_result_bytes:
        return ERROR, None, f"The result is larger than {call.max_result_bytes} bytes.", False
    return SUCCESS, text, "", False


def run_child(
    parent: ToolContext, *, execution_id: str, tool: Tool, arguments: Any,
    record_end: Callable[[str, str | None, str], None],
) -> Any:
    """Run an admitted sub-call's code in this thread and return its result (JSON);
    ``record_end(status, result as JSON text, error)`` records how it ended. A failure of
    the child is a ``ToolError`` naming it; a cancellation, or the CPU or memory cap of
    the process, stops the parent too."""
    tool_name = tool.name
    # The child's own context: its execution, the parent's user, logs and cancellation. Its
    # progress is not forwarded (it would make the parent's progress bar jump), nor can it
    # ask the client: its questions would arrive under the parent's name.
    child = ToolContext(
        user=parent.user, execution_id=execution_id, on_log=parent.on_log, cancel_event=parent.cancel_event,
        subcalls=parent.subcalls,
    )
    try:
        validated = tool.validate(arguments)
        if inspect.iscoroutinefunction(tool.run):
            result = asyncio.run(tool.run(validated, child))
        else:
            result = tool.run(validated, child)
        text = _result_text(result)
    except ToolCancelled:
        record_end(CANCELLED, None, "Cancelled.")
        raise
    except (ToolError, InvalidArguments) as exc:
        record_end(ERROR, None, str(exc))
        raise ToolError(f"{tool_name} failed: {exc}") from exc
    except (CpuLimitExceeded, MemoryError, InputRequired):
        record_end(ERROR, None, "The calling execution's tool process stopped it.")
        raise
    except Exception as exc:
        logger.exception("sub-call %s failed", tool_name)
        record_end(CRASHED, None, f"{type(exc).__name__}: {exc}")
        raise ToolError(f"{tool_name} failed: {type(exc).__name__}: {exc}") from exc
    record_end(SUCCESS, text, "")
    return json.loads(text)


def serve(conn: Connection, memory_mb: int) -> None:
    """The tool process's main loop: one call at a time until the owner closes the pipe."""
    # The owner stops a call by killing this process; Ctrl-C in a terminal is the
    # owner's to handle, not ours.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGXCPU, _on_sigxcpu)
    _limit_memory(memory_mb)
    owner = _Owner(conn)
    applied: dict[str, Any] = {}
    while True:
        try:
            kind, call = conn.recv()
        except (EOFError, OSError):
            return  # the owner is gone
        except Exception as exc:
            # The call could not be unpickled here (a tool class that is not importable by
            # name): the message was read whole, so the pipe is still in step.
            conn.send(("done", ERROR, None, f"The tool cannot run in a tool process: {exc}", False))
            continue
        if kind != "call":
            continue
        _apply_settings(call.settings, applied)
        try:
            status, text, error, retire = run_call(call, owner, memory_mb)
            conn.send(("done", status, text, error, retire))
        except (BrokenPipeError, EOFError, OSError):
            return
        if retire:
            return
