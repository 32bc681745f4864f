"""A hand-written stdio MCP server (2025-11-25 handshake) whose answers the SDK would never send.

    python raw_server.py [DESCRIPTIONS.json]

DESCRIPTIONS.json, read at every tools/list, maps tool names to the descriptions
offered (so a test can change them under the hub).

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


def answer(message: dict) -> dict | None:
    method, params = message.get("method"), message.get("params") or {}
    if "id" not in message:
        return None  # a notification
    if method == "initialize":
        result = {
            "protocolVersion": "2025-11-25",
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "raw", "version": "1"},
        }
    elif method == "tools/list":
        descriptions = json.loads(Path(sys.argv[1]).read_text()) if len(sys.argv) > 1 else {}
        result = {"tools": [{**t, "description": descriptions.get(t["name"], t["description"])} for t in TOOLS]}
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
