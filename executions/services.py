"""The one path of a tool call (see DESIGN.md). Every door calls ``execute_tool``.

    1. resolve the tool (registered, enabled, available, allowed for the user's role)
    2. validate the arguments against its input schema
    3. rate limit per user and tool
    4. cache lookup for cacheable tools
    5. record a ToolExecution
    6. run inline with a timeout, or dispatch to Celery on commit
    7. progress and logs -> executions.events (in-process listeners + Redis pub/sub)
    8. finish: status, result or error, duration, metrics, cache store

This module is synchronous; async doors call it through ``sync_to_async``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import threading
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, transaction
from django.db import connection as db_connection
from django.utils import timezone
from pydantic import BaseModel

from accounts.models import User
from accounts.services import user_by_id
from executions import events, metrics, rows, shutdown, toolpool
from executions.client_input import InputRound
from executions.models import Session, ToolExecution, Via
from executions.policy import (
    ArgumentsInvalid,
    ExecutionRejected,
    QueueUnavailable,
    ShuttingDown,
    ToolBusy,
    ToolPolicy,
    _cache_get,
    _cache_set,
    cache_key,
    rate_limit_hit,
    tool_policy,
    tool_resolve,
)
from executions.subcalls import Subcalls
from mcpsite import jsonlimits, processcache
from mcpsite.celery import app as celery_app
from mcpsite.db import release_connection, retry_if_connection_lost
from tools.base import (
    ClientInput,
    ClientRequest,
    InputRequired,
    InvalidArguments,
    Mode,
    Tool,
    ToolCancelled,
    ToolContext,
    ToolError,
)
from tools.registry import registry

logger = logging.getLogger(__name__)

Status = ToolExecution.Status
# Not final: a cancellation, a timeout or the tool's end may still finish these.
IN_PROGRESS = [Status.PENDING, Status.RUNNING, Status.INPUT_REQUIRED]

# Built-in tools run in the tool process pool (executions.toolpool). Remote tools are I/O
# on the federation loop: they run on these threads, so that the calling thread can
# enforce the timeout and watch for a cancellation while the remote server works.
_runner = ThreadPoolExecutor(max_workers=32, thread_name_prefix="tool")
# How often a waiting call looks at its row for a cancellation from another process.
CANCEL_POLL_SECONDS = toolpool.TICK_SECONDS


# --- Running ---------------------------------------------------------------------------------


@dataclass
class CallHooks:
    """What a door lends one call: how it hears of the row, the tool's progress and logs,
    how the tool reaches the door's client, and how the door stops the call. Every field
    is optional; a door without a client leaves ``client_request``/``client_input`` None.
    The callbacks run on the call's thread (``on_created`` before the tool starts)."""

    on_created: Callable[[ToolExecution], None] | None = None
    on_progress: Callable[[dict[str, Any]], None] | None = None
    on_log: Callable[[dict[str, Any]], None] | None = None
    client_request: ClientRequest | None = None
    client_input: ClientInput | None = None
    cancel_event: threading.Event | None = None


@dataclass
class _Run:
    """A tool's context and what the waiting thread reads of it: the latest progress the
    tool reported, saved to the row in the waiting thread's own steps (the tool's thread
    or process never writes to the database for progress)."""

    ctx: ToolContext
    latest: dict[str, Any]
    saved: dict[str, Any] = field(default_factory=dict)

    def unsaved_progress(self) -> dict[str, Any]:
        """The row's progress fields as the tool reported them last, if the row does not
        hold them yet; marked saved (the caller writes them)."""
        latest = dict(self.latest)  # the tool may report more meanwhile
        if not latest or latest == self.saved:
            return {}
        self.saved = latest
        return {
            "progress": latest["progress"], "progress_total": latest["total"],
            "progress_message": (latest["message"] or "")[:500],
        }


def _jsonable(result: Any) -> Any:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    # Round-trip so that what is stored is exactly what the doors will send.
    return json.loads(json.dumps(result, default=str))


def _call_tool(tool: Tool, arguments: Any, ctx: ToolContext) -> Any:
    try:
        if inspect.iscoroutinefunction(tool.run):
            return asyncio.run(tool.run(arguments, ctx))
        return tool.run(arguments, ctx)
    finally:
        # A runner thread lives on between calls: a pooled connection the tool (or a
        # registry read in it) took goes back to the pool.
        release_connection()


def _make_context(execution: ToolExecution, user: User | None, hooks: CallHooks) -> _Run:
    execution_id = str(execution.id)
    on_progress, on_log = hooks.on_progress, hooks.on_log
    latest: dict[str, Any] = {}

    def progress(done: float, total: float | None, message: str | None) -> None:
        latest.update(progress=done, total=total, message=message or "")
        event = {
            "type": "execution.progress",
            "execution_id": execution_id,
            "progress": done,
            "total": total,
            "message": message,
        }
        events.publish(execution_id, event)
        if on_progress is not None:
            on_progress(event)

    def log(level: str, message: str) -> None:
        number = logging.getLevelName(level.upper())  # a name it does not know comes back as a string
        logging.getLogger(f"tools.{execution.tool_name}").log(
            number if isinstance(number, int) else logging.INFO,
            message,
            extra={"execution_id": execution_id},
        )
        event = {"type": "execution.log", "execution_id": execution_id, "level": level, "message": message}
        events.publish(execution_id, event)
        if on_log is not None:
            on_log(event)

    ctx = ToolContext(
        user=user, execution_id=execution_id, on_progress=progress, on_log=log, client_request=hooks.client_request,
        client_input=hooks.client_input, subcalls=Subcalls(execution=execution, user=user, finish=_finish),
    )
    return _Run(ctx=ctx, latest=latest)


def _save_progress(execution: ToolExecution, run: _Run) -> None:
    fields = run.unsaved_progress()
    if fields:
        try:
            ToolExecution.objects.filter(pk=execution.pk).update(**fields)
        except DatabaseError:
            run.saved = {}  # not written: the next save (or the finishing UPDATE) writes it
            raise


def _run_with_timeout(
    execution: ToolExecution, tool: Tool, arguments: Any, run: _Run, timeout: float,
    cancel_event: threading.Event | None = None,
) -> tuple[str, Any, str]:
    """Run the tool; return (status, result, error).

    The calling thread waits in short steps: it enforces the deadline, notices a
    cancellation (the row set to ``cancelled`` by any process, or ``cancel_event``
    set by the door) and keeps the row's progress current. A built-in tool runs in a
    tool process, which is killed at the deadline or on cancellation. The progress the
    tool reported last is left in ``run`` for the finishing UPDATE to write.
    """
    ctx = run.ctx
    if cancel_event is None:
        cancel_event = threading.Event()  # also set when this process shuts down

    def cancelled() -> bool:
        if cancel_event.is_set():
            return True
        try:
            _save_progress(execution, run)
            return ToolExecution.objects.filter(pk=execution.pk, status=Status.CANCELLED).exists()
        except DatabaseError as exc:
            # The database went away under the call (a restart, a failover): the tool runs
            # on, and the next look connects again.
            logger.warning("execution %s could not look at its row: %s", execution.pk, exc)
            db_connection.close_if_unusable_or_obsolete()
            return False
        finally:
            release_connection()  # not held while the tool works

    with shutdown.track(execution.pk, cancel_event):
        if tool.runs_in_process:
            call = toolpool.call_for(
                tool=tool, arguments=arguments, user=ctx.user, execution_id=ctx.execution_id, timeout=timeout
            )
            # What the tool process's context needs to know of the caller's client.
            call.client_capabilities = [c for c in ("sampling", "elicitation", "roots") if ctx.client_can(c)]
            release = getattr(ctx.client_request, "release_stream", None)
            outcome = toolpool.get_pool().run(
                call, timeout=timeout, on_progress=ctx.report_progress, on_log=ctx.log,
                client_request=ctx.client_request, tick=cancelled, client_input=ctx.client_input,
                release_stream=release, subcalls=ctx.subcalls,
            )
            status, result, error = outcome.status, outcome.result, outcome.error
            if status == toolpool.CRASHED:
                ToolExecution.objects.filter(pk=execution.pk).update(crashed=True)
                execution.crashed = True
                status = Status.ERROR
        else:
            status, result, error = _run_on_thread(tool, arguments, ctx, timeout, cancelled)
    if status == Status.CANCELLED and cancel_event.is_set():
        # Why it was cancelled, where the one who set the event said (client gone, shutdown).
        error = getattr(cancel_event, "reason", error)
    return status, result, error


def _run_on_thread(
    tool: Tool, arguments: Any, ctx: ToolContext, timeout: float, cancelled: Callable[[], bool]
) -> tuple[str, Any, str]:
    """A remote tool: I/O on the federation loop, which stops the remote call when the
    context's cancel event is set."""
    future = _runner.submit(_call_tool, tool, arguments, ctx)
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = future.result(timeout=max(0.0, min(CANCEL_POLL_SECONDS, deadline - time.monotonic())))
            break
        except FutureTimeout:
            if cancelled():
                ctx.cancel_event.set()
                return Status.CANCELLED, None, "Cancelled."
            if time.monotonic() >= deadline:
                ctx.cancel_event.set()
                return Status.TIMEOUT, None, f"The tool did not finish within {timeout:g} s."
        except ToolCancelled:
            return Status.CANCELLED, None, "Cancelled."
        except InputRequired as exc:
            # The tool asked its client something: this run ends; the answers start the next.
            return Status.INPUT_REQUIRED, exc.requests, ""
        except (ToolError, InvalidArguments) as exc:
            return Status.ERROR, None, str(exc)
        except SoftTimeLimitExceeded:
            # Celery's soft limit fires in this waiting thread: the task records it as a timeout.
            ctx.cancel_event.set()
            raise
        except Exception as exc:
            logger.exception("tool %s failed", tool.name)
            ToolExecution.objects.filter(pk=ctx.execution_id).update(crashed=True)
            return Status.ERROR, None, f"{type(exc).__name__}: {exc}"
    try:
        result = _jsonable(result)
    except (TypeError, ValueError) as exc:
        return Status.ERROR, None, f"The tool returned a result that is not JSON: {exc}"
    if len(json.dumps(result)) > settings.TOOL_MAX_RESULT_BYTES:
        return Status.ERROR, None, f"The result is larger than {settings.TOOL_MAX_RESULT_BYTES} bytes."
    return Status.SUCCESS, result, ""


def _park(execution: ToolExecution, requests: dict[str, Any], progress: dict[str, Any]) -> ToolExecution:
    """The run ended asking the client: the row waits for the answers (not final)."""
    ToolExecution.objects.filter(pk=execution.pk, status=Status.RUNNING).update(
        status=Status.INPUT_REQUIRED, input_requests=requests, **progress
    )
    execution.refresh_from_db()
    events.publish(execution.id, {
        "type": "execution.input_required", "execution_id": str(execution.id), "input_requests": requests,
    })
    return execution


def _finish(
    execution: ToolExecution, status: str, result: Any, error: str, progress: dict[str, Any] | None = None
) -> ToolExecution:
    """End the row and publish its result. ``progress``: the run's last progress fields,
    written in the same UPDATE."""
    progress = progress or {}
    if status == Status.INPUT_REQUIRED:
        return _park(execution, result, progress)
    now = timezone.now()
    started = execution.started or now
    duration_ms = int((now - started).total_seconds() * 1000)
    # Only a row still in progress is finished: a cancellation that got there first wins.
    # A connection lost just then does not lose the result: the UPDATE is tried again on a
    # fresh one (it is conditional, so a repeat of one that did land changes nothing).
    updated = retry_if_connection_lost(lambda: rows.finish(execution.pk, where_status_in=IN_PROGRESS, values={
        "status": status, "result": result, "error": error, "finished": now, "duration_ms": duration_ms,
        "input_requests": None, **progress,
    }))
    if updated:
        # What was written is what the row holds: no read back.
        execution.status, execution.result, execution.error = status, result, error
        execution.finished, execution.duration_ms, execution.input_requests = now, duration_ms, None
        for name, value in progress.items():
            setattr(execution, name, value)
        metrics.record_finished(execution)
    else:
        # Someone else ended it first (a cancellation): the run's progress is kept all the same.
        if progress:
            ToolExecution.objects.filter(pk=execution.pk).update(**progress)
        execution.refresh_from_db()
    events.publish(execution.id, events.result_event(execution))
    return execution


def execute_tool(
    *,
    user: User | None,
    tool_name: str,
    arguments: Any,
    via: str,
    session: Session | None = None,
    hooks: CallHooks | None = None,
    scopes: Collection[str] | None = None,
    resume: str | None = None,
    task_ttl_ms: int | None = None,
) -> ToolExecution:
    """Run one tool call along the whole path and return its ToolExecution.

    Raises an ``ExecutionRejected`` subclass (nothing recorded) when the call is refused
    before it runs. Inline tools have finished when this returns; background tools are
    ``pending`` (or already finished when Celery is eager). ``hooks`` are what the door
    lends the call (``CallHooks``): ``on_created`` is told the row before the tool starts,
    so a door can announce the execution id.
    ``client_request`` lets an inline tool ask the door's client (MCP sampling,
    elicitation); a background tool runs elsewhere and never has it.
    ``scopes`` are the caller's token's scopes (None: unrestricted); calling needs tools:call.
    ``client_input``
    is how a door without a back-channel answers (MCP 2026-07-28): the tool's questions
    end the run as ``input_required``, and a later call with ``resume`` (the execution's
    id, its answers stored in ``input_responses``) runs the tool again on the same row.
    ``task_ttl_ms`` makes the call an MCP task: it runs in the background like a
    background tool (whatever the tool's mode) and returns at once, ``pending``.
    """
    if via not in Via.values:
        raise ValueError(f"unknown via {via!r}")
    hooks = hooks or CallHooks()
    try:
        if shutdown.draining():
            raise ShuttingDown()
        tool, policy = tool_resolve(user=user, tool_name=tool_name, scopes=scopes)
        # Before the schema: a value too deep to walk, or a number no JSON column can
        # hold, would fail in validation, in the INSERT or on every page that shows it.
        problem = jsonlimits.arguments_problem(arguments)
        if problem is not None:
            raise ArgumentsInvalid([{"loc": "", "msg": problem}])
        try:
            validated = tool.validate(arguments)
        except InvalidArguments as exc:
            raise ArgumentsInvalid(exc.errors) from None
        if resume is None:  # answering a question is not a new call
            rate_limit_hit(user=user, tool_name=tool.name, rate=policy.rate_limit)
    except ExecutionRejected as exc:
        metrics.record_rejected(tool_name if registry.get(tool_name) else "unknown", exc.code)
        raise
    if resume is not None:
        # The back-channel of a resumed run is its answers only.
        return _resume(
            execution_id=resume, user=user, tool=tool, validated=validated, policy=policy,
            hooks=CallHooks(**{**vars(hooks), "client_request": None}),
        )

    stored_arguments = arguments
    if session is not None:
        session_touch(session)

    key = cache_key(tool=tool, arguments=arguments, user=user) if policy.cache_ttl > 0 else None
    if key is not None:
        cached = _cache_get(key)
        if cached is not None:
            now = timezone.now()
            execution = ToolExecution.objects.create(
                tool_name=tool.name, server="" if tool.source == "builtin" else tool.source, user=user,
                session=session, via=via, arguments=stored_arguments, result=cached, status=Status.SUCCESS,
                mode=str(tool.mode), cache_hit=True, created=now, started=now, finished=now, duration_ms=0,
            )
            metrics.record_finished(execution)
            if hooks.on_created is not None:
                hooks.on_created(execution)
            return execution

    background = tool.mode == Mode.BACKGROUND or task_ttl_ms is not None
    with ExitStack() as held:
        if not background or settings.CELERY_TASK_ALWAYS_EAGER:
            # The call runs in this process: it needs a place in the tool pool (remote tools
            # in places of their own, with the same caps), or it is refused at once.
            places = toolpool.get_pool().admission if tool.runs_in_process else toolpool.remote_admission()
            try:
                held.enter_context(places.hold(str(user.pk) if user else "anonymous"))
            except toolpool.PoolBusy as exc:
                metrics.record_rejected(tool.name, ToolBusy.code)
                raise ToolBusy(exc.retry_after, per_user=exc.per_user) from None
        return _record_and_run(
            tool=tool, policy=policy, validated=validated, user=user, arguments=arguments, via=via,
            session=session, cache_key_=key, hooks=hooks, task_ttl_ms=task_ttl_ms,
        )


def _record_and_run(
    *, tool: Tool, policy: ToolPolicy, validated: Any, user: User | None, arguments: Any, via: str,
    session: Session | None, cache_key_: str | None, hooks: CallHooks, task_ttl_ms: int | None = None,
) -> ToolExecution:
    background = tool.mode == Mode.BACKGROUND or task_ttl_ms is not None
    created = timezone.now()  # one instant for created and started: never started before created
    execution = ToolExecution(
        tool_name=tool.name,
        server="" if tool.source == "builtin" else tool.source,
        user=user,
        session=session,
        via=via,
        arguments=arguments,
        status=Status.PENDING if background else Status.RUNNING,
        mode=str(Mode.BACKGROUND if background else tool.mode),
        created=created,
        started=None if background else created,
        task_ttl_ms=task_ttl_ms,
    )
    rows.insert(execution)  # ToolExecution.objects.create, its SQL written once
    try:
        return _run_recorded(
            execution, tool=tool, policy=policy, validated=validated, user=user, cache_key_=cache_key_,
            hooks=hooks, task_ttl_ms=task_ttl_ms,
        )
    except BaseException as exc:
        _end_abandoned(execution, exc)
        raise


def _end_abandoned(execution: ToolExecution, exc: BaseException) -> None:
    """The call failed on its way after its row was written (its database connection lost,
    say): end the row as ``error`` rather than leave it pending or running with no one to
    finish it. ``_finish`` leaves a row that something else ended already as it is."""
    error = f"The call failed before it finished: {type(exc).__name__}: {exc}"[:1000]
    try:
        _finish(execution, Status.ERROR, None, error)
    except DatabaseError as lost:
        # The database stays away: the reaper ends the row once it can.
        logger.warning("execution %s could not be ended after %s: %s", execution.pk, type(exc).__name__, lost)


def _run_recorded(
    execution: ToolExecution, *, tool: Tool, policy: ToolPolicy, validated: Any, user: User | None,
    cache_key_: str | None, hooks: CallHooks, task_ttl_ms: int | None,
) -> ToolExecution:
    background = execution.mode == Mode.BACKGROUND
    _announce(execution, hooks.on_created)
    release_connection()  # a pooled connection is not held while the tool works
    if task_ttl_ms is not None:
        transaction.on_commit(lambda: execution_dispatch(execution_id=str(execution.id), timeout=policy.timeout))
        return execution

    if background:

        execution_id = str(execution.id)

        def forward(event: dict[str, Any]) -> None:
            # With eager Celery the task runs right here: give the door its callbacks as
            # for an inline call. A real worker's events arrive through events.follow.
            callback = {"execution.progress": hooks.on_progress, "execution.log": hooks.on_log}.get(event["type"])
            if callback is not None:
                callback(event)

        unsubscribe = events.subscribe(execution_id, forward) if (hooks.on_progress or hooks.on_log) else None
        try:
            # On commit, so that a worker never picks up a row that was rolled back.
            transaction.on_commit(lambda: _send_to_worker(execution_id, timeout=policy.timeout))
        finally:
            if unsubscribe is not None:
                unsubscribe()
        if settings.CELERY_TASK_ALWAYS_EAGER:
            execution.refresh_from_db()  # the task ran here, on commit: the row is final
        return execution

    return _run_and_finish(execution, tool, validated, policy, user=user, hooks=hooks, cache_key_=cache_key_)


def _run_and_finish(
    execution: ToolExecution, tool: Tool, validated: Any, policy: ToolPolicy, *, user: User | None,
    hooks: CallHooks, cache_key_: str | None,
) -> ToolExecution:
    """The tail every run shares (inline, resumed, a Celery worker's): run the tool within
    the policy's timeout, finish the row, store a success in the result cache."""
    run = _make_context(execution, user, hooks)
    status, result, error = _run_with_timeout(execution, tool, validated, run, policy.timeout, hooks.cancel_event)
    execution = _finish(execution, status, result, error, progress=run.unsaved_progress())
    if cache_key_ is not None and execution.status == Status.SUCCESS:
        _cache_set(cache_key_, execution.result, timeout=policy.cache_ttl)
    return execution


def _announce(execution: ToolExecution, on_created: Callable | None) -> None:
    """Tell the door the row exists. A door whose caller went away meanwhile (a socket
    closed as the call started) fails here: the row is ended as cancelled rather than
    left running or pending with no one to finish it."""
    if on_created is None:
        return
    try:
        on_created(execution)
    except BaseException:
        ToolExecution.objects.filter(pk=execution.pk, status__in=IN_PROGRESS).update(
            status=Status.CANCELLED, error="The caller went away before the call started.", finished=timezone.now(),
            duration_ms=0,
        )
        raise


def _resume(
    *, execution_id: str, user: User | None, tool: Tool, validated: Any, policy: ToolPolicy, hooks: CallHooks,
) -> ToolExecution:
    """Run an execution that waited for its client's answers again, on its own row."""
    # Claim: one answer resumes the row; a second one (a retry, a replay) finds it taken.
    claimed = ToolExecution.objects.filter(
        pk=execution_id, status=Status.INPUT_REQUIRED, user=user, tool_name=tool.name
    ).update(status=Status.RUNNING, input_requests=None)
    if claimed != 1:
        raise ExecutionRejected(
            "This call is no longer waiting for input: it was answered already, cancelled or expired."
        )
    execution = ToolExecution.objects.get(pk=execution_id)
    _announce(execution, hooks.on_created)
    # A resumed run's result is an answer to its client's input, never cached.
    return _run_and_finish(execution, tool, validated, policy, user=user, hooks=hooks, cache_key_=None)


def execute_tool_on_pool_thread(**kwargs: Any) -> ToolExecution:
    """``execute_tool`` for an async door that runs it with
    ``sync_to_async(thread_sensitive=False)``, so that concurrent calls run side by side:
    the pool thread may not run a database call again for a long time, so a pooled
    connection goes back to the pool when the call is done."""
    try:
        return execute_tool(**kwargs)
    finally:
        release_connection()


def execution_run(
    *, execution_id: str, on_claimed: Callable[[str], None] | None = None
) -> ToolExecution | None:
    """Run a background execution (called by the Celery task). Idempotent.

    Returns None when the row was already claimed by another delivery of the task, or
    was cancelled before it started. ``on_claimed`` is told the id once this delivery owns
    the row (the task's heartbeat).
    """
    # Claim: only one delivery of the task moves the row from pending to running (and
    # reads it, in the same statement).
    execution = rows.claim(execution_id, started=timezone.now())
    if execution is None:
        return None
    if on_claimed is not None:
        on_claimed(execution_id)
    execution.user = user_by_id(execution.user_id) if execution.user_id is not None else None
    tool = registry.get(execution.tool_name)
    if tool is None:
        return _finish(execution, Status.ERROR, None, f"Tool {execution.tool_name!r} is no longer registered.")
    policy = tool_policy(tool)
    try:
        validated = tool.validate(execution.arguments)
    except InvalidArguments as exc:
        return _finish(execution, Status.ERROR, None, f"Invalid arguments: {exc}")
    hooks = CallHooks()
    if execution.task_ttl_ms is not None:
        # An MCP task asks its client through the row: the questions park it as
        # input_required, tasks/update stores the answers and runs it again.
        hooks.client_input = InputRound(capabilities=None, answers=dict(execution.input_responses or {}), checked=False)
    key = cache_key(tool=tool, arguments=execution.arguments, user=execution.user) if policy.cache_ttl > 0 else None
    return _run_and_finish(execution, tool, validated, policy, user=execution.user, hooks=hooks, cache_key_=key)


# MCP tasks without a broker (eager Celery) run here, beside the web process's requests,
# so that tools/call can answer with the task at once.
_task_runner = ThreadPoolExecutor(max_workers=8, thread_name_prefix="task")


def execution_dispatch(*, execution_id: str, timeout: float | None = None) -> None:
    """Send a pending background execution to a worker (call it on commit). ``timeout`` is
    the policy's, when the caller holds it: the task's time limits are not read again."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        _task_runner.submit(_run_eager_task, execution_id)
    else:
        _send_to_worker(execution_id, timeout=timeout)


def celery_time_limits(timeout: float) -> tuple[float, float]:
    """(soft, hard) Celery time limits for a tool's timeout: the tool's own timer stops it
    first; the soft limit a grace later, the hard limit (the pool kills) one more after."""
    grace = settings.CELERY_TIME_LIMIT_GRACE
    return timeout + grace, timeout + 2 * grace


def _execution_task() -> Task:
    # Found by name in the Celery app's registry, not imported: executions.tasks imports
    # this module (its tasks are thin wrappers of the service).
    return celery_app.tasks["executions.run_execution"]


def _send_to_worker(execution_id: str, timeout: float | None = None) -> None:
    """Publish the execution's task (time limits from ``timeout``, the policy's, else read
    by the task); when the broker cannot take it, end the row as ``error`` (it would
    otherwise stay pending forever) and refuse the call."""
    options: dict[str, Any] = {}
    if timeout is not None:
        options["soft_time_limit"], options["time_limit"] = celery_time_limits(timeout)
    try:
        _execution_task().apply_async(args=(execution_id,), task_id=execution_id, **options)
    except Exception as exc:  # kombu raises a range of connection errors
        logger.warning("could not queue execution %s: %s", execution_id, exc)
        now = timezone.now()
        ToolExecution.objects.filter(pk=execution_id, status=Status.PENDING).update(
            status=Status.ERROR, error="The task queue was unavailable; the call was not started.", finished=now,
            duration_ms=0,
        )
        execution = ToolExecution.objects.filter(pk=execution_id).first()
        if execution is not None:
            metrics.record_finished(execution)
            metrics.record_rejected(execution.tool_name, QueueUnavailable.code)
        raise QueueUnavailable(execution_id) from None


def _run_eager_task(execution_id: str) -> None:
    try:
        _execution_task().apply(args=(execution_id,), task_id=execution_id)
    finally:
        release_connection()


def execution_answer(
    *, execution: ToolExecution, answers: dict[str, Any], task_ttl_ms: int | None = None
) -> ToolExecution:
    """Store a client's answers to a waiting task's questions; once every question is
    answered the task is pending again and goes back to a worker. Answers to questions
    it did not ask are ignored; a task that is not waiting is left as it is.
    ``task_ttl_ms`` turns a waiting call into a task as it goes back to work."""
    with transaction.atomic():
        row = ToolExecution.objects.select_for_update().get(pk=execution.pk)
        if row.status != Status.INPUT_REQUIRED:
            return row
        pending = dict(row.input_requests or {})
        given = {key: value for key, value in answers.items() if key in pending}
        responses = {**(row.input_responses or {}), **given}
        remaining = {key: value for key, value in pending.items() if key not in given}
        if remaining:
            ToolExecution.objects.filter(pk=row.pk).update(input_requests=remaining, input_responses=responses)
        else:
            as_task = {"task_ttl_ms": task_ttl_ms, "mode": str(Mode.BACKGROUND)} if task_ttl_ms is not None else {}
            ToolExecution.objects.filter(pk=row.pk, status=Status.INPUT_REQUIRED).update(
                status=Status.PENDING, input_requests=None, input_responses=responses, **as_task
            )
            transaction.on_commit(lambda: execution_dispatch(execution_id=str(row.pk)))
    row.refresh_from_db()
    return row


def execution_finish(*, execution_id: str, status: str, error: str) -> ToolExecution:
    """End an execution from outside the tool (time limit hit, worker lost, reaper)."""
    execution = retry_if_connection_lost(lambda: ToolExecution.objects.get(pk=execution_id))
    return _finish(execution, status, None, error)


def execution_cancel(*, execution: ToolExecution, user: User | None) -> ToolExecution:
    """Cancel a pending or running execution: the row first, then the worker's task.

    The waiting side (inline thread or worker) sees the row within
    ``CANCEL_POLL_SECONDS`` and tells the tool through ``ctx.raise_if_cancelled()``.
    """
    now = timezone.now()
    updated = ToolExecution.objects.filter(
        pk=execution.pk, status__in=IN_PROGRESS
    ).update(status=Status.CANCELLED, finished=now, error="Cancelled.")
    execution.refresh_from_db()
    if updated:
        if execution.started:
            ToolExecution.objects.filter(pk=execution.pk).update(
                duration_ms=int((now - execution.started).total_seconds() * 1000)
            )
            execution.refresh_from_db()
        metrics.record_finished(execution)
        if execution.mode == Mode.BACKGROUND and not settings.CELERY_TASK_ALWAYS_EAGER:
            from mcpsite.celery import app

            app.control.revoke(str(execution.id))
        events.publish(execution.id, events.result_event(execution))
    return execution


def session_start(*, user: User | None, kind: str, client_info: dict[str, Any] | None = None) -> Session:
    return Session.objects.create(user=user, kind=kind, client_info=client_info or {})


# (kind, user id, client) -> the open Session of a client that has no connection of its
# own (a REST token, a stateless MCP client): found or created once, then kept.
_client_sessions = processcache.ProcessCache("client-sessions")


def session_for_client(
    *, user: User | None, kind: str, client: str, client_info: dict[str, Any], idle_timeout: float | None = None,
) -> Session:
    """The open Session of one client of ``user``, reused across its calls; with
    ``idle_timeout`` a session unused that long is left and a new one begins."""
    session = session_known(user=user, kind=kind, client=client, idle_timeout=idle_timeout)
    if session is not None:
        return session
    key = (kind, user.pk if user is not None else None, client)
    since = timezone.now() - timedelta(seconds=idle_timeout) if idle_timeout is not None else None
    read_at = processcache.generation()
    found = Session.objects.filter(kind=kind, user=user, data__client=client, ended__isnull=True)
    if since is not None:
        found = found.filter(last_activity__gte=since)
    session = found.order_by("-last_activity").first()
    if session is None:
        session = Session.objects.create(user=user, kind=kind, client_info=client_info, data={"client": client})
    _client_sessions.put(key, session, read_at)
    return session


def session_known(*, user: User | None, kind: str, client: str, idle_timeout: float | None = None) -> Session | None:
    """``session_for_client`` when this process has the session already (no database)."""
    session = _client_sessions.get((kind, user.pk if user is not None else None, client))
    if session is None or session.ended is not None:
        return None
    if idle_timeout is not None and (timezone.now() - session.last_activity).total_seconds() > idle_timeout:
        return None
    return session


def session_touch(session: Session) -> None:
    """Mark the session active, writing at most once per SESSION_ACTIVITY_WRITE_SECONDS."""
    now = timezone.now()
    if session.last_activity is not None and (
        now - session.last_activity
    ).total_seconds() < settings.SESSION_ACTIVITY_WRITE_SECONDS:
        return
    Session.objects.filter(pk=session.pk).update(last_activity=now)
    session.last_activity = now


def session_end(*, session: Session) -> None:
    Session.objects.filter(pk=session.pk, ended__isnull=True).update(ended=timezone.now())
