"""A hand-written stdio MCP server (2025-11-25 handshake) whose answers the SDK would never send.

    python raw_server.py [--modern] [DESCRIPTIONS.json]

DESCRIPTIONS.json, read at every tools/list, maps tool names to the descriptions
offered (so a test can change them under the hub). With --modern it also answers
server/discover, so a client speaks 2026-07-28 to it, and leaves ``resultType`` out of
its tool results (as a server of that revision may; SEP-2322: read as complete).

Tools: ok (a proper result), malformed (a result whose content is not a list),
nocontent (a result with no content at all).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TOOLS = [
    {"name": name, "description": f"{name} result", "inputSchema": {"type": "object", "properties": {}}}
    for name in ("ok", "malformed", "nocontent")
]

RESULTS = {
    "ok": {"content": [{"type": "text", "text": "fine"}]},
    "malformed": {"content": "not a list"},
    "nocontent": {"structuredContent": 7},
}


MODERN = "--modern" in sys.argv[1:]
FILES = [arg for arg in sys.argv[1:] if arg != "--modern"]


def answer(message: dict) -> dict | None:
    method, params = message.get("method"), message.get("params") or {}
    if "id" not in message:
        return None  # a notification
    if method == "server/discover" and MODERN:
        result = {
            "resultType": "complete",
            "supportedVersions": ["2026-07-28"],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "raw", "version": "1"},
        }
    elif method == "initialize":
        result = {
            "protocolVersion": "2025-11-25",
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "raw", "version": "1"},
        }
    elif method == "tools/list":
        descriptions = json.loads(Path(FILES[0]).read_text()) if FILES else {}
        result = {"tools": [{**t, "description": descriptions.get(t["name"], t["description"])} for t in TOOLS]}
        if MODERN:
            result.update(resultType="complete", ttlMs=0, cacheScope="private")
    elif method == "tools/call":
        result = RESULTS.get(params.get("name"), {"content": [], "isError": True})
    elif method == "ping":
        result = {}
    else:
        return {"jsonrpc": "2.0", "id": message["id"], "error": {"code": -32601, "message": f"no {method}"}}
    return {"jsonrpc": "2.0", "id": message["id"], "result": result}


def main() -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        reply = answer(json.loads(line))
        if reply is not None:
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
