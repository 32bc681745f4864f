"""Tell a synchronous view that its client went away.

Django's ASGI handler notices a client that disconnects and cancels the request's task,
but a synchronous view runs on a thread that nothing stops: an inline tool call went on
to its end for nobody. ``watch`` wraps an HTTP request's ``receive`` so that the
disconnect also sets an event that the view finds in ``request.scope`` (``event_for``)
and hands to ``execute_tool`` as its cancel event: the call is cancelled and its row says
why.
"""

from __future__ import annotations

import threading
from typing import Any

SCOPE_KEY = "mcpsite.client_gone"


def watch(scope: dict[str, Any], receive: Any) -> tuple[dict[str, Any], Any]:
    gone = threading.Event()
    gone.reason = "Cancelled: the client disconnected before the call finished."  # type: ignore[attr-defined]

    async def watched() -> dict[str, Any]:
        message = await receive()
        if message["type"] == "http.disconnect":
            gone.set()
        return message

    return {**scope, SCOPE_KEY: gone}, watched


def event_for(request: Any) -> threading.Event | None:
    """The request's client-gone event (None outside ASGI, e.g. the test client)."""
    return getattr(request, "scope", {}).get(SCOPE_KEY)
