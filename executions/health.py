"""The /readyz entry for the tool processes.

A serving process starts its tool processes beside its first request (``toolpool.
start_in_background``: the fork server imports Django and the tool libraries, seconds on
a busy CPU). Until they are up, a tool call waits for them, so the process says
``starting`` and /readyz answers 503: a load balancer keeps sending calls to the
processes that are warm (a new replica, a restart) instead of making them wait.
"""

from __future__ import annotations

from executions import toolpool


def tool_processes_check() -> list[tuple[str, dict]]:
    state = toolpool.start_state()
    if state == "starting":
        note = "the tool processes are starting; a call now would wait for them"
        return [("tool_processes", {"status": "starting", "note": note})]
    if state == "failed":
        # Calls try to start them again; remote (federated) tools need none and still run.
        return [("tool_processes", {"status": "degraded", "error": toolpool.start_error()})]
    if state == "not_started":
        return [("tool_processes", {"status": "ok", "note": "they start with the first request of a serving process"})]
    stats = toolpool.get_pool().stats()
    return [("tool_processes", {"status": "ok", "size": stats["size"], "idle": stats["idle"]})]
