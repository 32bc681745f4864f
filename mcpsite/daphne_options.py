"""Options of daphne's WebSocket protocol (autobahn) that its command line does not offer.

daphne refuses a message over its size limit (1 MiB, as ADDIN_WS_MAX_FRAME_BYTES) through
autobahn, which by default *drops* the TCP connection: the task pane then sees 1006
(abnormal closure) and cannot tell why. With ``failByDrop`` off autobahn closes with the
closing handshake and 1009 (message too big), the code the README documents. daphne sets
its own options on the factory after creating it, leaving ``failByDrop`` alone, so it is
set here as the factory is made. Imported by ``mcpsite.asgi``; a no-op without daphne.
"""

from __future__ import annotations

from typing import Any


def install() -> None:
    try:
        from daphne import ws_protocol
    except ImportError:  # served by another ASGI server
        return
    factory = ws_protocol.WebSocketFactory
    if getattr(factory, "_mcpsite_closes_cleanly", False):
        return
    original_init = factory.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.setProtocolOptions(failByDrop=False)

    factory.__init__ = __init__
    factory._mcpsite_closes_cleanly = True
