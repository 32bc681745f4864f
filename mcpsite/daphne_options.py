"""What daphne's command line does not offer: a WebSocket option, a drain on shutdown,
and no form parsing in Twisted.

**Frames over the limit close with 1009.**
daphne refuses a message over its size limit (1 MiB, as ADDIN_WS_MAX_FRAME_BYTES) through
autobahn, which by default *drops* the TCP connection: the task pane then sees 1006
(abnormal closure) and cannot tell why. With ``failByDrop`` off autobahn closes with the
closing handshake and 1009 (message too big), the code the README documents. daphne sets
its own options on the factory after creating it, leaving ``failByDrop`` alone, so it is
set here as the factory is made.

**SIGTERM drains.** daphne cancels every open request as its reactor shuts down (its
``kill_all_applications``), so a caller got no answer even for a call that then finished,
and the process lived on until the last tool thread returned. Here the executions drain
first (``executions.shutdown``: no new calls, SHUTDOWN_GRACE_SECONDS for the running ones,
the rest cancelled), their answers are sent, and then daphne closes what is left.

**Twisted does not parse request bodies.** daphne's request is Twisted's ``Request``,
which by default parses every POST whose body is a form into ``request.args``, and first
parses the Content-Type header with the ``email`` package, for every POST that has one:
about 5% of the web process's CPU per MCP or REST call (issue 10, py-spy). daphne hands
the raw body to the ASGI application and never reads ``request.args``, so the requests
are made with Twisted's own ``parsePOSTFormSubmission=False``; Django parses forms itself.

**Twisted writes no access log of its own.** Twisted's ``HTTPFactory`` formats a combined
log line for every request and hands it to Twisted's logging, which daphne sends nowhere
(daphne writes its own access log, the one on stdout): 2% of the web process's CPU per
MCP call and 4% per REST call (py-spy). The factory is started without that log file.

Imported by ``mcpsite.asgi``; a no-op without daphne.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

logger = logging.getLogger("daphne.server")

# After the drain, how long the requests whose calls ended have to send their answers.
ANSWER_SECONDS = 2.0


def install() -> None:
    try:
        from daphne import http_protocol, server, ws_protocol
    except ImportError:  # served by another ASGI server
        return
    _drain_before_kill(server.Server)
    _no_form_parsing(http_protocol.WebRequest)
    _no_twisted_access_log(http_protocol.HTTPFactory)
    factory = ws_protocol.WebSocketFactory
    if getattr(factory, "_mcpsite_closes_cleanly", False):
        return
    original_init = factory.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.setProtocolOptions(failByDrop=False)

    factory.__init__ = __init__
    factory._mcpsite_closes_cleanly = True


def _no_form_parsing(request_class: Any) -> None:
    if getattr(request_class, "_mcpsite_raw_bodies", False):
        return
    original_init = request_class.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("parsePOSTFormSubmission", False)
        original_init(self, *args, **kwargs)

    request_class.__init__ = __init__
    request_class._mcpsite_raw_bodies = True


def _no_twisted_access_log(factory_class: Any) -> None:
    if getattr(factory_class, "_mcpsite_no_access_log", False):
        return
    original_start = factory_class.startFactory

    def startFactory(self: Any) -> None:
        original_start(self)
        # Twisted's legacy log file, whose lines daphne discards; without it, ``log()`` is a no-op.
        self._logFile = None

    factory_class.startFactory = startFactory
    factory_class._mcpsite_no_access_log = True


def _drain_before_kill(server_class: Any) -> None:
    if getattr(server_class, "_mcpsite_drains", False):
        return
    from twisted.internet.defer import Deferred

    async def drain_then_kill(server: Any) -> None:
        from executions import shutdown

        await shutdown.drain()
        # A connection that has not sent its request yet has no application instance.
        instances = [details.get("application_instance") for details in list(server.connections.values())]
        running = [instance for instance in instances if instance is not None and not instance.done()]
        if running:
            # The requests whose calls ended send their answers; streams (SSE, WebSockets)
            # never end by themselves, so the wait is bounded.
            await asyncio.wait(running, timeout=ANSWER_SECONDS)
        left = [instance for instance in running if not instance.done()]
        for instance in left:
            instance.cancel()
        logger.info("Killed %i pending application instances", len(left))
        await asyncio.gather(*left, return_exceptions=True)

    def kill_all_applications(self: Any) -> Any:
        # Replaces daphne's own, which cancelled every open request at once.
        return Deferred.fromFuture(asyncio.ensure_future(drain_then_kill(self)))

    server_class.kill_all_applications = kill_all_applications
    server_class._mcpsite_drains = True
