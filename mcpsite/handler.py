"""Django's ASGI handler with the middleware chain and the view on one thread.

Django's ``ASGIHandler`` builds its middleware chain in async mode: every middleware that
can be async runs so, and each of its ``process_request``/``process_view``/
``process_response`` hops to a thread and back, the sync view hops again, and one
sync-only middleware (WhiteNoise, the request id) makes the rest hop back to the loop.
The hub's Django views are sync (DRF, the admin, the pages), so here the chain is built
in sync mode and the whole of it (middleware, view, rendering) runs in one hop from the
event loop per request: about a third of a cheap REST request's CPU (issue 10). An async
view would still work (Django runs it with ``async_to_sync``), at one hop back.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler


class OneHopASGIHandler(ASGIHandler):
    _middleware_chain: Any  # set by load_middleware; django-stubs does not declare it

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)
        # What get_response_async awaits: the sync chain, on the request's own thread
        # (thread_sensitive: the thread Django gives each request's sync code).
        self._middleware_chain = sync_to_async(self._middleware_chain, thread_sensitive=True)
