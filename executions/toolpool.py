"""The supervised pool of tool processes (DESIGN.md, "Where tool code runs").

Tool code never runs on a thread of the process that serves HTTP and WebSockets: a
tool that never returns would hold the GIL and its memory, and every later call would
queue behind it. Built-in tools run here instead, one call at a time per process:

* **Real limits.** On timeout or cancellation the process running the call is killed
  and replaced at once, so the tool's code stops for real. Each process has a memory
  cap and each call a CPU-time cap (enforced in the process, ``executions.toolproc``).
* **Backpressure.** At most ``TOOL_POOL_SIZE`` calls run at once and
  ``TOOL_POOL_QUEUE`` wait; one user may hold at most ``TOOL_POOL_PER_USER`` of those
  places. Past them ``admission.hold`` refuses at once (``PoolBusy``), never queues without end.
  Remote tools, which take no process, have places of their own with the same caps.
* **Two ways.** A running call reports progress and logs, and may ask the caller's
  client (``ctx.ask_client``) and wait for the answer, over the process's pipe.

Why not a library pool: ``ProcessPoolExecutor`` cannot stop one task without breaking
the whole pool, and billiard's ``Pool`` (which kills a task at its time limit) gives a
running task no channel to its caller and back. billiard (Celery's multiprocessing,
which also works inside a Celery worker's own processes) starts the processes and
pipes; this module only admits calls, lends processes and replaces the ones it kills.
Processes are forked from a fork server that imported Django and the tool libraries
once (``executions.toolproc_preload``), never from the threaded serving process, so a
new one is ready in milliseconds. As multiprocessing requires, a program's main script
must guard its work with ``if __name__ == "__main__"``: a tool process imports it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import pickle
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import billiard
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from prometheus_client import Counter as MetricCounter
from prometheus_client import Gauge

from executions import toolproc
from executions.toolproc import CANCELLED, CRASHED, ERROR, INPUT_REQUIRED, Call  # noqa: F401  (re-exported)
from tools.base import InputRequired, MissingClientCapability, ToolError

logger = logging.getLogger(__name__)

TIMEOUT = "timeout"
# How often a waiting call runs its ``tick`` (cancellation from another process, progress
# saved to the row) while no message comes from the tool.
TICK_SECONDS = 0.25
# A refused call is told to come back after this many seconds.
RETRY_AFTER_SECONDS = 2
# Settings a tool may read; a tool process gets the serving process's values with each
# call, so that a value changed at run time reaches it too.
TOOL_SETTING_PREFIXES = ("TOOL_", "FETCH_URL_", "WEB_SEARCH_", "FIND_REPLACE_", "ANALYZE_DOCUMENT_")

PROCESSES = Gauge("mcpsite_tool_processes", "Tool processes of this serving process.", ["state"])
# Set twice per call: the labelled children are looked up once (a lookup sorts the labels
# and takes a lock, each time).
IDLE_PROCESSES, BUSY_PROCESSES = PROCESSES.labels(state="idle"), PROCESSES.labels(state="busy")
WAITING = Gauge("mcpsite_tool_calls_waiting", "Admitted tool calls waiting for a free tool process.")
REPLACED = MetricCounter(
    "mcpsite_tool_processes_replaced_total", "Tool processes killed or retired and replaced.", ["reason"]
)


class PoolBusy(Exception):
    """No place for the call: the pool and its queue are full, or the user's share is."""

    def __init__(self, *, per_user: bool) -> None:
        self.per_user = per_user
        self.retry_after = RETRY_AFTER_SECONDS
        super().__init__("per-user share full" if per_user else "pool and queue full")


class Admission:
    """Places for calls: at most ``places`` at once, at most ``per_user`` of them per user."""

    def __init__(self, *, places: int, per_user: int) -> None:
        self.places = max(1, places)
        self.per_user = max(1, per_user)
        self._lock = threading.Lock()
        self.held = 0
        self._by_user: Counter[str] = Counter()

    @contextmanager
    def hold(self, user_key: str) -> Iterator[None]:
        """Hold one place while the block runs, or raise PoolBusy at once."""
        with self._lock:
            if self._by_user[user_key] >= self.per_user:
                raise PoolBusy(per_user=True)
            if self.held >= self.places:
                raise PoolBusy(per_user=False)
            self.held += 1
            self._by_user[user_key] += 1
        try:
            yield
        finally:
            with self._lock:
                self.held -= 1
                self._by_user[user_key] -= 1
                if not self._by_user[user_key]:
                    del self._by_user[user_key]


@dataclass(frozen=True)
class Outcome:
    status: str  # success, error, timeout or cancelled
    result: Any
    error: str


class _ToolProcess:
    def __init__(self, mp: Any, memory_mb: int) -> None:
        me = billiard.current_process()
        if me.daemon:
            # Celery's prefork children are daemonic, and billiard (like multiprocessing)
            # refuses children to a daemonic process lest they be orphaned. A tool process
            # exits by itself when its pipe closes, so a worker's child may start them.
            me.daemon = False
        self.conn, child = mp.Pipe(duplex=True)
        self.process = mp.Process(target=toolproc.serve, args=(child, memory_mb), name="mcpsite-tool", daemon=True)
        self.process.start()
        child.close()
        self.calls = 0

    def stop(self) -> None:
        """Kill the process (it may be stuck in C code that no signal handler reaches)."""
        if self.process.pid is not None:
            with suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)
        self.process.join(timeout=5)
        self.conn.close()

    def died_message(self) -> str:
        self.process.join(timeout=1)
        code = self.process.exitcode
        if code is not None and code < 0:
            try:
                how = f"killed by {signal.Signals(-code).name}"
            except ValueError:
                how = f"killed by signal {-code}"
        else:
            how = f"exit code {code}"
        return f"The tool process died ({how}); the tool may have run out of memory."


class ToolPool:
    def __init__(self, *, size: int, queue: int, per_user: int, memory_mb: int, max_calls: int) -> None:
        self.size = max(1, size)
        self.queue = max(0, queue)
        self.admission = Admission(places=self.size + self.queue, per_user=per_user)
        self.memory_mb = memory_mb
        self.max_calls = max_calls
        self._cond = threading.Condition()
        self._idle: list[_ToolProcess] = []
        self._started = 0  # processes alive or being started
        self._waiting = 0
        self._closed = False
        self._mp = billiard.get_context("forkserver")
        self._mp.set_forkserver_preload(["executions.toolproc_preload"])
        # Runs ctx.ask_client for calls while their waiting thread keeps the deadline.
        self._asker = ThreadPoolExecutor(max_workers=4, thread_name_prefix="tool-ask")

    # --- admission -------------------------------------------------------------------

    # --- processes -------------------------------------------------------------------

    def _checkout(self, deadline: float, tick: Callable[[], bool]) -> _ToolProcess | str:
        """An idle process (started if the pool is not full), or TIMEOUT/CANCELLED."""
        with self._cond:
            self._waiting += 1
            WAITING.inc()
            next_tick = time.monotonic() + TICK_SECONDS
            try:
                while not self._idle and self._started >= self.size:
                    now = time.monotonic()
                    if now >= deadline:
                        return TIMEOUT
                    if now >= next_tick:
                        next_tick = now + TICK_SECONDS
                        if tick():
                            return CANCELLED
                    self._cond.wait(min(next_tick, deadline) - now)
                if self._idle:
                    process = self._idle.pop()
                    self._set_gauges()
                    return process
                self._started += 1
            finally:
                self._waiting -= 1
                WAITING.dec()
        try:
            process = _ToolProcess(self._mp, self.memory_mb)
        except Exception:
            with self._cond:
                self._started -= 1
                self._cond.notify()
            raise
        self._set_gauges()
        return process

    def _checkin(self, process: _ToolProcess, *, healthy: bool, reason: str = "") -> None:
        process.calls += 1
        if healthy and process.calls >= self.max_calls > 0:
            healthy, reason = False, "recycled"
        if self._closed:
            process.stop()
            return
        if healthy:
            with self._cond:
                self._idle.append(process)
                self._cond.notify()
            self._set_gauges()
            return
        process.stop()
        REPLACED.labels(reason=reason or "died").inc()
        # Replace it right away, so that the pool is back to full strength for the next call.
        try:
            replacement = _ToolProcess(self._mp, self.memory_mb) if not self._closed else None
        except Exception:
            logger.exception("could not start a tool process")
            replacement = None
        with self._cond:
            if replacement is None:
                self._started -= 1
            else:
                self._idle.append(replacement)
            self._cond.notify()
        self._set_gauges()

    def _set_gauges(self) -> None:
        idle = len(self._idle)
        IDLE_PROCESSES.set(idle)
        BUSY_PROCESSES.set(max(0, self._started - idle))

    def prestart(self) -> None:
        """Start every process now rather than on demand (the first start of the fork
        server imports Django and the tool libraries: seconds, not milliseconds)."""
        started = []
        while True:
            with self._cond:
                if self._started >= self.size:
                    break
                self._started += 1
            try:
                started.append(_ToolProcess(self._mp, self.memory_mb))
            except Exception:
                with self._cond:
                    self._started -= 1
                raise
        with self._cond:
            self._idle.extend(started)
            self._cond.notify_all()
        self._set_gauges()

    def stats(self) -> dict[str, int]:
        with self._cond:
            return {
                "size": self.size, "started": self._started, "idle": len(self._idle),
                "admitted": self.admission.held, "waiting": self._waiting,
            }

    def idle_pids(self) -> list[int]:
        with self._cond:
            return [p.process.pid for p in self._idle if p.process.pid is not None]

    def close(self) -> None:
        """Stop every idle process (busy ones are stopped when their call ends)."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._started -= len(idle)
        for process in idle:
            process.stop()
        self._asker.shutdown(wait=False, cancel_futures=True)

    # --- one call ----------------------------------------------------------------------

    def run(
        self,
        call: Call,
        *,
        timeout: float,
        on_progress: Callable[[float, float | None, str | None], None],
        on_log: Callable[[str, str], None],
        client_request: Callable[[str, dict[str, Any]], dict[str, Any]] | None,
        tick: Callable[[], bool],
        client_input: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        release_stream: Callable[[], None] | None = None,
        subcalls: Any = None,
    ) -> Outcome:
        """Run ``call`` in a tool process within ``timeout`` seconds. A call may wait as
        long again for a free process (only while the pool is full). ``tick`` is called
        about every TICK_SECONDS; when it returns True the call is cancelled: the process
        is killed and replaced. ``subcalls`` (an ``executions.subcalls.Subcalls``) admits
        and records the tool's ``ctx.call_tool`` children, whose code runs in the process."""
        timed_out = Outcome(TIMEOUT, None, f"The tool did not finish within {timeout:g} s.")
        cancelled = Outcome(CANCELLED, None, "Cancelled.")
        try:
            payload = pickle.dumps(("call", call), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            return Outcome(ERROR, None, f"The tool cannot run in a tool process: {exc}")
        process = self._checkout(time.monotonic() + timeout, tick)
        if process == TIMEOUT:
            return timed_out
        if process == CANCELLED:
            return cancelled
        assert isinstance(process, _ToolProcess)
        healthy, reason = False, "died"
        asking: Future[dict[str, Any]] | None = None
        deadline = time.monotonic() + timeout
        try:
            process.conn.send_bytes(payload)
            next_tick = time.monotonic() + TICK_SECONDS
            while True:
                now = time.monotonic()
                if now >= deadline:
                    reason = "timeout"
                    return timed_out
                if now >= next_tick:
                    next_tick = now + TICK_SECONDS
                    if tick():
                        reason = "cancelled"
                        return cancelled
                if asking is not None and asking.done():
                    process.conn.send(("answer", *_answer(asking)))
                    asking = None
                wait = min(next_tick, deadline) - now
                if asking is not None:
                    wait = min(wait, 0.02)
                if not process.conn.poll(max(0.0, wait)):
                    continue
                try:
                    message = process.conn.recv()
                except (EOFError, OSError):
                    return Outcome(ERROR, None, process.died_message())
                kind = message[0]
                if kind == "progress":
                    on_progress(*message[1:])
                elif kind == "log":
                    on_log(*message[1:])
                elif kind == "ask":
                    method, params = message[1], message[2]
                    if client_request is None:
                        process.conn.send(
                            ("answer", False, f"This call came through a door that cannot send {method} to its client.")
                        )
                    else:
                        asking = self._asker.submit(client_request, method, params)
                elif kind == "ask_many":
                    asking = self._asker.submit(_ask_many, client_input, client_request, message[1])
                elif kind == "subcall_start":
                    _, parent_id, name, arguments = message
                    process.conn.send(("answer", *_admit(subcalls, parent_id, name, arguments)))
                elif kind == "subcall_end":
                    _, child_id, status, text, error = message
                    subcalls.end(
                        execution_id=child_id, status=status, result=json.loads(text) if text is not None else None,
                        error=error,
                    )
                elif kind == "release":
                    if release_stream is not None:
                        self._asker.submit(release_stream)
                elif kind == "done":
                    _, status, text, error, retire = message
                    healthy, reason = not retire, "retired"
                    return Outcome(status, json.loads(text) if text is not None else None, error)
        except (BrokenPipeError, EOFError, ConnectionResetError):
            return Outcome(ERROR, None, process.died_message())
        finally:
            if asking is not None:
                asking.cancel()
            if subcalls is not None:
                subcalls.abandon()  # the process was killed (deadline, cancel) inside a child
            self._checkin(process, healthy=healthy, reason=reason)


def _ask_many(
    client_input: Callable[[dict[str, Any]], dict[str, Any]] | None,
    client_request: Callable[[str, dict[str, Any]], dict[str, Any]] | None,
    requests: dict[str, Any],
) -> dict[str, Any]:
    if client_input is not None:
        return client_input(requests)
    if client_request is None:
        methods = ", ".join(sorted({method for method, _ in requests.values()}))
        raise ToolError(f"This call came through a door that cannot send {methods} to its client.")
    return {key: client_request(method, params) for key, (method, params) in requests.items()}


def _admit(subcalls: Any, parent_id: str, name: str, arguments: Any) -> tuple[bool, Any]:
    if subcalls is None:
        return False, f"{name} cannot be called from here: this call runs no other tools."
    try:
        # The Tool goes back with the id: the tool process's registry lacks tools registered
        # after it was forked (remote ones, a test's).
        return True, subcalls.start(parent_id=parent_id, tool_name=name, arguments=arguments, in_tool_process=True)
    except ToolError as exc:
        return False, str(exc)
    except Exception as exc:  # the database, say: the caller hears of it as of a refusal
        logger.exception("sub-call %s could not be admitted", name)
        return False, f"{name} could not be started: {type(exc).__name__}: {exc}"


def _answer(asking: Future[dict[str, Any]]) -> tuple[bool, Any]:
    try:
        return True, asking.result()
    except InputRequired as exc:
        return False, {"input_required": exc.requests}
    except MissingClientCapability as exc:
        return False, {"missing_capability": exc.capability}
    except Exception as exc:
        return False, str(exc) or type(exc).__name__


def tool_settings() -> dict[str, Any]:
    """The serving process's current values of the settings tools read (not to be changed:
    every call is sent the same dict until a setting changes)."""
    global _tool_settings
    values = _tool_settings
    if values is None:
        # 21 reads through Django's lazy settings: tens of microseconds, on every call before.
        values = {name: getattr(settings, name) for name in dir(settings) if name.startswith(TOOL_SETTING_PREFIXES)}
        _tool_settings = values
    return values


_tool_settings: dict[str, Any] | None = None


@receiver(setting_changed)
def _forget_tool_settings(**kwargs: Any) -> None:
    # Settings change at run time through override_settings (and the test suite's
    # ``settings`` fixture), which sends this signal.
    global _tool_settings
    _tool_settings = None


def call_for(*, tool: Any, arguments: Any, user: Any, execution_id: str, timeout: float) -> Call:
    cpu = settings.TOOL_PROCESS_CPU_SECONDS or timeout
    return Call(
        tool=tool, arguments=arguments, user=user, execution_id=execution_id, cpu_seconds=math.ceil(cpu),
        max_result_bytes=settings.TOOL_MAX_RESULT_BYTES, settings=tool_settings(),
    )


# --- the pool of this process ------------------------------------------------------------

_pool: ToolPool | None = None
_pool_lock = threading.Lock()


def get_pool() -> ToolPool:
    """This process's pool, started on first use with the settings' sizes."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ToolPool(
                size=settings.TOOL_POOL_SIZE, queue=settings.TOOL_POOL_QUEUE, per_user=settings.TOOL_POOL_PER_USER,
                memory_mb=settings.TOOL_PROCESS_MEMORY_MB, max_calls=settings.TOOL_PROCESS_MAX_CALLS,
            )
        return _pool


_remote: Admission | None = None


def remote_admission() -> Admission:
    """Places for remote (federated) tool calls: the same caps as the pool, counted apart,
    since they wait on the network and take no tool process."""
    global _remote
    with _pool_lock:
        if _remote is None:
            _remote = Admission(
                places=settings.TOOL_POOL_SIZE + settings.TOOL_POOL_QUEUE, per_user=settings.TOOL_POOL_PER_USER
            )
        return _remote


_warming = False
# Set once the background start has ended; _start_error then says how: "" (the processes
# are up) or why they could not start.
_start_ended = threading.Event()
_start_error = ""


def start_in_background() -> None:
    """Start this process's pool on a thread of its own (once), so that a serving
    process's first tool call does not wait while the fork server imports Django and
    the tool libraries. Called on a serving process's first request."""
    global _warming
    if _warming:  # every request asks: no lock once it began
        return
    with _pool_lock:
        if _warming:
            return
        _warming = True

    def start() -> None:
        global _start_error
        try:
            get_pool().prestart()
        except Exception as exc:
            logger.exception("could not start the tool processes (calls will try again)")
            _start_error = f"{type(exc).__name__}: {exc}"[:300]
        finally:
            _start_ended.set()

    threading.Thread(target=start, name="tool-pool-start", daemon=True).start()


def start_state() -> str:
    """How the background start stands: ``not_started`` (nothing started it in this
    process: a management command, a test), ``starting`` (the fork server is still
    importing Django and the tool libraries; a call now would wait for it), ``ready`` or
    ``failed`` (``start_error`` says why; calls try again, and once one has started a
    process the pool is ``ready``)."""
    if not _warming:
        return "not_started"
    if not _start_ended.is_set():
        return "starting"
    pool = _pool
    if _start_error and (pool is None or pool.stats()["started"] == 0):
        return "failed"
    return "ready"


def start_error() -> str:
    return _start_error


def wait_for_start(timeout: float) -> bool:
    """Wait until a background start has ended (True at once when none was begun)."""
    return not _warming or _start_ended.wait(timeout)


def reset_pool() -> None:
    """Close this process's pool; the next call starts a new one (after a settings change)."""
    global _pool, _remote
    with _pool_lock:
        pool, _pool, _remote = _pool, None, None
    if pool is not None:
        pool.close()


def _forget_pool_in_child() -> None:
    # A forked child (a Celery prefork worker) must not use its parent's processes and
    # pipes: it starts its own pool when it first runs a tool.
    global _pool, _pool_lock, _warming, _remote, _start_ended, _start_error
    _pool = None
    _remote = None
    _pool_lock = threading.Lock()
    _warming = False
    _start_ended, _start_error = threading.Event(), ""


os.register_at_fork(after_in_child=_forget_pool_in_child)
