"""A real HTTP server on 127.0.0.1 for the web tools' tests, answering from a route table."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

Route = Callable[["Handler"], None]


class Handler(BaseHTTPRequestHandler):
    routes: dict[str, Route] = {}
    seen: list[dict] = []
    # Set when the test ends, so that routes that stall or drip let go of their threads.
    stopping: threading.Event = threading.Event()
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        self.query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.seen.append({"path": parts.path, "query": self.query, "headers": dict(self.headers)})
        route = self.routes.get(parts.path)
        if route is None:
            self.reply(404, "text/plain", b"no such page")
            return
        with suppress(BrokenPipeError, ConnectionResetError):  # the client hung up on purpose
            route(self)

    def reply(self, status: int, content_type: str, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def redirect(self, location: str, status: int = 302) -> None:
        self.reply(status, "text/plain", b"", {"Location": location})

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve(routes: dict[str, Route], tls: ssl.SSLContext | None = None) -> Iterator[tuple[str, list[dict]]]:
    """Serve ``routes`` on a free loopback port; yield the base URL and the requests seen.

    With ``tls`` (a server context holding a certificate) it speaks https.
    """
    seen: list[dict] = []
    stopping = threading.Event()
    handler = type("RouteHandler", (Handler,), {"routes": routes, "seen": seen, "stopping": stopping})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}", seen
    finally:
        stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
