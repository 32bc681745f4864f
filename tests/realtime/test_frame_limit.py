"""The frame limit as the task pane meets it: a real daphne, a real socket. A message over
1 MiB is closed with the closing handshake and 1009 (message too big), not dropped (1006)."""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import struct
from collections.abc import Iterator

import pytest

from tests.mcp_server.conftest import Hub, start_hub, stop_hub

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def hub(tmp_path_factory) -> Iterator[Hub]:
    started = start_hub(tmp_path_factory.mktemp("frames"))
    try:
        yield started
    finally:
        stop_hub(started)


def _frame(opcode: int, payload: bytes) -> bytes:
    """One masked client frame (RFC 6455 5.2)."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if length < 4096 else _mask_fast(payload, mask)
    return header + mask + masked


def _mask_fast(payload: bytes, mask: bytes) -> bytes:
    key = int.from_bytes((mask * (len(payload) // 4 + 1))[: len(payload)], "big")
    return (int.from_bytes(payload, "big") ^ key).to_bytes(len(payload), "big")


def _open(hub: Hub) -> socket.socket:
    port = int(hub.base.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /ws/addin/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:{port}\r\n\r\n".encode()
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 101"), answer[:200]
    return sock


def _read_frames_until_close(sock: socket.socket) -> int | None:
    """The close code the server sent, or None when it dropped the connection without one."""
    buffer = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            return None
        if not chunk:
            return None
        buffer += chunk
        while len(buffer) >= 2:
            opcode, length = buffer[0] & 0x0F, buffer[1] & 0x7F
            offset = 2
            if length == 126:
                length, offset = struct.unpack("!H", buffer[2:4])[0], 4
            elif length == 127:
                length, offset = struct.unpack("!Q", buffer[2:10])[0], 10
            if len(buffer) < offset + length:
                break
            payload, buffer = buffer[offset:offset + length], buffer[offset + length:]
            if opcode == 0x8:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005


def test_a_message_over_one_mebibyte_is_closed_with_1009(hub):
    sock = _open(hub)
    try:
        # The server may close before it has read it all; the close frame is what counts.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(_frame(0x1, b'{"type": "ping", "pad": "' + b"x" * (1024 * 1024 + 100) + b'"}'))
        assert _read_frames_until_close(sock) == 1009
    finally:
        sock.close()


def test_a_message_within_the_limit_is_answered(hub):
    sock = _open(hub)
    try:
        sock.sendall(_frame(0x1, b'{"type": "ping", "id": "p"}'))
        data = sock.recv(4096)
        # A text frame (0x81) answering it (before signing in: the error that says so).
        assert data[0] == 0x81 and b'"not_authenticated"' in data
    finally:
        sock.close()
