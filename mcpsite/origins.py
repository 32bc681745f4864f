"""Strict parsing of the ``Origin`` header, for the checks that guard ``/mcp`` and the
task pane's WebSocket against DNS rebinding and cross-site use.

An origin is ``scheme://host[:port]`` and nothing else (RFC 6454): a value with user
information, a path, a query or a fragment is not an origin a browser sends, and is
refused rather than read loosely (``http://127.0.0.1:1@evil`` is a URL whose host is
``evil``, not an origin on 127.0.0.1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ORIGIN = re.compile(
    r"^(?P<scheme>[a-z][a-z0-9+.-]*)://"
    r"(?P<host>\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*)"
    r"(?::(?P<port>[0-9]{1,5}|\*))?$"
)
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int | None  # None: the scheme's default port (or any port, in a pattern with ":*")
    any_port: bool = False

    @property
    def netloc(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def effective_port(self) -> int | None:
        return self.port if self.port is not None else DEFAULT_PORTS.get(self.scheme)


def parse_origin(value: str, *, pattern: bool = False) -> Origin | None:
    """The origin ``value`` names, or None when it is not exactly an origin.

    With ``pattern`` a port of ``*`` (any port) is accepted, as the settings spell it."""
    match = _ORIGIN.match(value.strip().lower())
    if match is None:
        return None
    port = match.group("port")
    if port == "*":
        if not pattern:
            return None
        return Origin(match.group("scheme"), match.group("host"), None, any_port=True)
    if port is not None and not 0 < int(port) < 65536:
        return None
    return Origin(match.group("scheme"), match.group("host"), int(port) if port else None)


def origin_matches(origin: Origin, allowed: str) -> bool:
    """Whether ``origin`` is the one setting entry ``allowed`` names: ``*`` (any origin),
    ``scheme://host`` or ``scheme://host:port`` exactly, or ``scheme://host:*``."""
    if allowed.strip() == "*":
        return True
    wanted = parse_origin(allowed, pattern=True)
    if wanted is None or (wanted.scheme, wanted.host) != (origin.scheme, origin.host):
        return False
    return wanted.any_port or wanted.effective_port() == origin.effective_port()
