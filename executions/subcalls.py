"""Sub-calls: a tool running another tool through ``ctx.call_tool`` (issue 15).

A sub-call meets the policy of a call from a door, for the calling execution's user:
the tool exists, is enabled and allowed for the user's role and groups, its arguments
are valid and the user's rate limit for it has room (``policy.tool_resolve``,
``policy.rate_limit_hit``). The rate limit counts one use of each tool per calling
call, however many sections it runs that tool on: a long document analysed once must
not use up its caller's minute of keyword extraction (a user over the limit is still
refused). A refusal records nothing, as at a door. An admitted
sub-call is a ``ToolExecution`` whose ``parent`` is the calling execution, with the
same user, session and door (``via``).

The child's code runs where its parent runs, in the parent's thread: the parent's time
limit, CPU and memory caps and cancellation cover it, and it takes no second place in
the tool pool (a parent waiting for a place held by its own child would never finish).
The database half (``Subcalls.start`` and ``Subcalls.end``) runs where the database is:
in the same process for a tool that runs in process, in the tool process's owner for a
built-in tool (``executions.toolproc`` asks it over the pipe; ``executions.toolpool``
answers). ``executions.toolproc.run_child`` runs the child's code, with no database,
in either place.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from django.utils import timezone

from accounts.models import User
from executions import metrics, policy, toolproc
from executions.models import ToolExecution
from mcpsite import jsonlimits
from mcpsite.db import release_connection
from tools.base import InvalidArguments, Mode, Tool, ToolContext, ToolError
from tools.registry import registry

Status = ToolExecution.Status
# Ends an execution: status, result, error (``services._finish``).
Finish = Callable[[ToolExecution, str, Any, str], ToolExecution]


class Subcalls:
    """The sub-calls of one execution (and of its children, at any depth)."""

    def __init__(self, *, execution: ToolExecution, user: User | None, finish: Finish) -> None:
        # Nothing is read here: a call that makes no sub-call costs no statement.
        self.user = user
        # The service's own end of a call, handed in by the service (which imports this
        # module, so this one does not import it back).
        self._finish = finish
        self.session_id = execution.session_id
        self.via = execution.via
        self._open: dict[str, ToolExecution] = {}
        self._rate_counted: set[str] = set()  # tools this call's rate limit already counted
        self._lock = threading.Lock()

    def call(self, ctx: ToolContext, name: str, arguments: dict[str, Any]) -> Any:
        """``ctx.call_tool`` where the database is at hand (a tool that runs in process)."""
        child_id, tool = self.start(parent_id=ctx.execution_id, tool_name=name, arguments=arguments)

        def end(status: str, text: str | None, error: str) -> None:
            self.end(execution_id=child_id, status=status, result=None if text is None else json.loads(text),
                     error=error)

        return toolproc.run_child(ctx, execution_id=child_id, tool=tool, arguments=arguments, record_end=end)

    def start(
        self, *, parent_id: str, tool_name: str, arguments: Any, in_tool_process: bool = False
    ) -> tuple[str, Tool]:
        """Admit and record a sub-call; return its execution id and the tool to run.
        Raises ``ToolError`` with the reason when it is refused (nothing is recorded then).
        ``in_tool_process``: the child is to run in a tool process, which has no
        federation loop for a remote tool."""
        try:
            tool, rules = policy.tool_resolve(user=self.user, tool_name=tool_name)
            problem = jsonlimits.arguments_problem(arguments)
            if problem is not None:
                raise ToolError(f"{tool_name} was called with invalid arguments: {problem}")
            try:
                tool.validate(arguments)
            except InvalidArguments as exc:
                raise ToolError(f"{tool_name} was called with invalid arguments: {exc}") from None
            if in_tool_process and not tool.runs_in_process:
                raise ToolError(f"{tool_name} is a remote tool, which a built-in tool cannot call.")
            with self._lock:
                first_use = tool.name not in self._rate_counted
            if first_use:
                policy.rate_limit_hit(user=self.user, tool_name=tool.name, rate=rules.rate_limit)
                with self._lock:
                    self._rate_counted.add(tool.name)
        except policy.ToolNotFound as exc:
            metrics.record_rejected(tool_name if registry.get(tool_name) else "unknown", exc.code)
            raise ToolError(self._refusal(tool_name)) from None
        except policy.ExecutionRejected as exc:
            metrics.record_rejected(tool_name, exc.code)
            raise ToolError(f"{tool_name} was refused: {exc.message}") from None
        now = timezone.now()
        try:
            child = ToolExecution.objects.create(
                tool_name=tool.name, server="" if tool.source == "builtin" else tool.source, user=self.user,
                session_id=self.session_id, via=self.via, parent_id=parent_id, arguments=arguments,
                status=Status.RUNNING, mode=str(Mode.INLINE), created=now, started=now,
            )
        finally:
            release_connection()  # not held while the child works
        with self._lock:
            self._open[str(child.pk)] = child
        return str(child.pk), tool

    def end(self, *, execution_id: str, status: str, result: Any, error: str) -> None:
        """Record the end of a sub-call (``status`` as ``toolproc`` reports it)."""
        with self._lock:
            child = self._open.pop(execution_id, None)
        if child is None:
            return  # not one of ours, or ended already
        if status == toolproc.CRASHED:
            ToolExecution.objects.filter(pk=child.pk).update(crashed=True)
            status = Status.ERROR
        try:
            self._finish(child, status, result, error)
        finally:
            release_connection()

    def abandon(self, error: str = "The calling execution ended before this sub-call did.") -> None:
        """End the sub-calls still open when their parent's run is over (its tool process
        was killed at its deadline or on its cancellation)."""
        with self._lock:
            left, self._open = list(self._open.values()), {}
        try:
            for child in left:
                self._finish(child, Status.CANCELLED, None, error)
        finally:
            if left:
                release_connection()

    def _refusal(self, tool_name: str) -> str:
        # A door answers "Unknown tool" for a disabled tool or one the user may not use, so
        # as not to tell a caller it exists. The calling tool's code names it already, so a
        # sub-call says why: the user of a document analysis needs to know that spelling
        # was skipped because an operator switched spell_check off.
        tool = registry.get(tool_name)
        if tool is None:
            return f"{tool_name} is not a known tool."
        if not policy.tool_policy(tool).enabled:
            return f"{tool_name} is disabled."
        return f"{tool_name} is not available to this user (its role or groups do not allow it)."
