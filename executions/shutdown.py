"""A serving process that is told to stop (SIGTERM) drains before it exits.

1. It stops taking work: new tool calls are refused with ``shutting_down`` (503, retry)
   and ``/readyz`` answers 503, so that a load balancer sends the next calls elsewhere.
2. The calls already running in this process get ``SHUTDOWN_GRACE_SECONDS`` to finish
   and answer their callers.
3. Calls still running then are cancelled (their tool processes killed, their rows
   ``cancelled`` with the reason) and answered as such; then the server closes its
   connections and exits.

Without this, daphne cancelled every open request at once (callers got no answer, even
for calls that then finished) and the process exited only when the last tool thread
returned, which could be a background tool's whole timeout later.

``track`` is used by the execution service around every call it runs in this process;
``drain`` by ``mcpsite.daphne_options`` when daphne shuts down.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_running: dict[object, threading.Event] = {}  # execution id -> its cancel event
_draining = threading.Event()
_drained: asyncio.Future[None] | None = None

REASON = "Cancelled: the server shut down before the call finished (SHUTDOWN_GRACE_SECONDS)."


def draining() -> bool:
    return _draining.is_set()


@contextmanager
def track(execution_id: object, cancel_event: threading.Event) -> Iterator[None]:
    """Count a call as running in this process while the block runs."""
    with _lock:
        _running[execution_id] = cancel_event
    try:
        yield
    finally:
        with _lock:
            _running.pop(execution_id, None)


async def drain(grace: float | None = None, *, settle: float = 10.0) -> None:
    """Refuse new calls, wait up to ``grace`` seconds for the running ones, cancel the
    rest and wait up to ``settle`` seconds for them to record it. Once per process: a
    second caller waits for the first one's drain."""
    global _drained
    if _drained is None:
        _drained = asyncio.ensure_future(_drain(settings.SHUTDOWN_GRACE_SECONDS if grace is None else grace, settle))
    await asyncio.shield(_drained)


async def _drain(grace: float, settle: float) -> None:
    _draining.set()
    if _running:
        logger.info("shutting down: waiting up to %g s for %d running call(s)", grace, len(_running))
    if not await _wait_until_idle(grace):
        with _lock:
            left = list(_running.values())
        logger.warning("shutting down: cancelling %d call(s) still running after %g s", len(left), grace)
        for cancel_event in left:
            cancel_event.reason = REASON  # type: ignore[attr-defined]  # what the row will say
            cancel_event.set()
        if not await _wait_until_idle(settle):
            logger.error("shutting down with %d call(s) still running; the reaper will end them", len(_running))


async def _wait_until_idle(seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _running:
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def reset() -> None:
    """Take work again (tests that drained this process)."""
    global _drained
    _draining.clear()
    _drained = None
