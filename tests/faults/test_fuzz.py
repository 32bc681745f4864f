"""A seeded fuzzer over every door of a real hub (issue 16): JSON-RPC shapes on /mcp in both
eras, REST calls with random arguments for every tool's schema, odd headers and odd
WebSocket frames. Whatever it sends, no answer is a 5xx (503 with Retry-After aside: the
hub is busy), every JSON-RPC error is well formed, nothing logs a traceback, /healthz keeps
answering, and no inline execution is left in progress.

The seed and the budget are fixed, so a failure reproduces; FUZZ_SEED and FUZZ_BUDGET in
the environment explore further.
"""

from __future__ import annotations

import json
import os
import random
import string
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from tests.mcp_server.conftest import Hub, start_hub, stop_hub
from tests.realtime.test_frame_limit import _frame, _open

pytestmark = [pytest.mark.fault, pytest.mark.slow]

SEED = int(os.environ.get("FUZZ_SEED", "16"))
BUDGET = int(os.environ.get("FUZZ_BUDGET", "300"))
MODERN = "2026-07-28"
ACCEPTS = ["application/json, text/event-stream", "application/json", "text/event-stream", "*/*", "", "text/html"]
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "",
    "application/x-www-form-urlencoded",
]


@pytest.fixture(scope="module")
def hub(tmp_path_factory) -> Iterator[Hub]:
    # Fewer tool processes and a short timeout: the fuzzer should meet the hub's limits.
    started = start_hub(tmp_path_factory.mktemp("fuzz"), TOOL_DEFAULT_TIMEOUT="10")
    try:
        yield started
    finally:
        stop_hub(started)


class Values:
    """Random JSON values: the right shape for a schema, or any shape at all."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def text(self) -> str:
        rng = self.rng
        return rng.choice(
            [
                "",
                " ",
                "héllo wörld 漢字 😀",
                "a" * rng.choice([1, 100, 5000]),
                "\x00\x01\u202e",
                '{"x": [',
                " ".join(
                    rng.choice(["word", "Sentence.", "1e999", "NaN", "\\", "'", '"']) for _ in range(rng.randint(1, 40))
                ),
                "".join(rng.choices(string.printable, k=rng.randint(0, 300))),
            ]
        )

    def anything(self, depth: int = 0) -> Any:
        rng = self.rng
        makers = [
            lambda: None, lambda: rng.choice([True, False]), lambda: rng.randint(-2**70, 2**70),
            lambda: rng.uniform(-1e300, 1e300), self.text, lambda: rng.choice([0, -1, 2**31, 10**20]),
            lambda: "[" * rng.randint(1, 80) + "]" * rng.randint(0, 80),
        ]
        if depth < 4:
            makers += [
                lambda: [self.anything(depth + 1) for _ in range(rng.randint(0, 4))],
                lambda: {self.text()[:20]: self.anything(depth + 1) for _ in range(rng.randint(0, 4))},
            ]
        return rng.choice(makers)()

    def for_schema(self, schema: dict[str, Any]) -> Any:
        rng = self.rng
        if rng.random() < 0.15:
            return self.anything()
        if "enum" in schema:
            return rng.choice(schema["enum"])
        kinds = schema.get("type") or ("object" if "properties" in schema else "string")
        kind = rng.choice(kinds) if isinstance(kinds, list) else kinds
        if "anyOf" in schema:
            return self.for_schema(rng.choice(schema["anyOf"]))
        if kind == "object":
            properties = schema.get("properties", {})
            return {name: self.for_schema(sub) for name, sub in properties.items() if rng.random() < 0.8}
        if kind == "array":
            return [self.for_schema(schema.get("items", {})) for _ in range(rng.randint(0, 5))]
        if kind == "integer":
            low, high = schema.get("minimum", -10), schema.get("maximum", 10**6)
            return rng.choice([low, high, rng.randint(low, high), low - 1, high + 1])
        if kind == "number":
            return rng.uniform(-1e6, 1e6)
        if kind == "boolean":
            return rng.random() < 0.5
        if kind == "null":
            return None
        limit = schema.get("maxLength", 2000)
        return rng.choice([self.text(), "x" * min(limit, 50_000), "x" * min(limit + 1, 50_001), ""])


def _headers(rng: random.Random, token: str) -> dict[str, Any]:
    headers = {"Accept": rng.choice(ACCEPTS[:2]), "Content-Type": "application/json",
               "Authorization": f"{rng.choice(['Bearer', 'bearer', 'BEARER'])} {token}"}
    if rng.random() < 0.1:
        headers["Accept"] = rng.choice(ACCEPTS)
    if rng.random() < 0.1:
        headers["Content-Type"] = rng.choice(CONTENT_TYPES)
    if rng.random() < 0.05:
        headers["Authorization"] = rng.choice(
            ["Bearer", "Bearer x y", "Basic x", f"Bearer {token}x", "bearer \u00e9".encode("latin-1")]
        )
    if rng.random() < 0.05:
        headers["Origin"] = rng.choice(["http://127.0.0.1:1@evil", "null", "http://localhost:6274", "https://x"])
    return headers


def _mcp_message(rng: random.Random, values: Values, tools: list[dict[str, Any]]) -> Any:
    tool = rng.choice(tools)
    method = rng.choice(["tools/call"] * 6 + ["tools/list", "ping", "resources/list", "resources/read",
                                                  "prompts/list", "server/discover", "nonsense/method", ""])
    params: Any = {}
    if method == "tools/call":
        params = {"name": rng.choice([tool["name"], tool["name"], "no_such_tool", ""]),
                  "arguments": values.for_schema(tool["input_schema"])}
    elif method == "resources/read":
        params = {"uri": rng.choice(["execution://x", "execution://00000000-0000-4000-8000-000000000000", "", "file:///etc/passwd"])}
    if rng.random() < 0.5:
        params = dict(params) if isinstance(params, dict) else {}
        params["_meta"] = {"io.modelcontextprotocol/protocolVersion": MODERN,
                           "io.modelcontextprotocol/clientInfo": {"name": "fuzz", "version": "1"},
                           "io.modelcontextprotocol/clientCapabilities": {}}
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": rng.choice([1, "x", rng.randint(0, 2**40), None, [], 1.5]),
                               "method": method, "params": params}
    mutation = rng.random()
    if mutation < 0.05:
        message.pop("jsonrpc")
    elif mutation < 0.1:
        message["params"] = values.anything()
    elif mutation < 0.13:
        return [message]
    elif mutation < 0.16:
        message.pop("id")
    return message


def _check_rpc(response: httpx2.Response) -> None:
    if response.status_code in (200, 202) and response.headers.get("content-type", "").startswith("text/event-stream"):
        return
    if response.status_code == 202 or not response.content:
        return
    body = response.json()
    if response.status_code in (401, 403) and isinstance(body.get("error"), str):
        # An OAuth error body (RFC 6750), with its WWW-Authenticate challenge.
        assert body["error"] in ("invalid_token", "insufficient_scope", "invalid_request"), body
        assert "www-authenticate" in {k.lower() for k in response.headers}
    elif "error" in body:
        error = body["error"]
        assert isinstance(error.get("code"), int) and isinstance(error.get("message"), str), body


def test_every_door_survives_a_seeded_fuzz(hub):
    rng = random.Random(SEED)
    values = Values(rng)
    token = hub.tokens["alice"]
    tools = httpx2.get(f"{hub.base}/api/v1/tools/", headers={"Authorization": f"Bearer {token}"}, timeout=30).json()
    assert tools, "the hub lists no tools"
    statuses: dict[int, int] = {}

    with httpx2.Client(timeout=60) as http:
        for n in range(BUDGET):
            door = rng.random()
            if door < 0.5:
                headers = _headers(rng, token)
                if rng.random() < 0.5:
                    headers["MCP-Protocol-Version"] = MODERN
                body = _mcp_message(rng, values, tools)
                raw = (
                    json.dumps(body).encode()
                    if rng.random() > 0.05
                    else json.dumps(body).encode()[: rng.randint(0, 50)]
                )
                response = http.post(f"{hub.base}/mcp", content=raw, headers=headers)
                if response.status_code < 500:
                    _check_rpc(response)
            elif door < 0.85:
                tool = rng.choice(tools)
                name = tool["name"] if rng.random() < 0.9 else rng.choice(["nope", "..", "%00", "a" * 300])
                payload: Any = {"arguments": values.for_schema(tool["input_schema"])}
                if rng.random() < 0.1:
                    payload = values.anything()
                response = http.post(f"{hub.base}/api/v1/tools/{name}/execute/", json=payload,
                                     headers={"Authorization": _headers(rng, token)["Authorization"]})
            else:
                query = rng.choice(["limit=99999999999999999999", "offset=-1", "status=%00", "tool=" + "x" * 500,
                                    "limit=abc", "via=mcp&limit=1", ""])
                path = rng.choice(["/api/v1/executions/", "/api/v1/sessions/", "/api/v1/tools/"])
                response = http.request(rng.choice(["GET", "HEAD", "OPTIONS"]), f"{hub.base}{path}?{query}",
                                        headers={"Authorization": f"Bearer {token}"})
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            assert response.status_code < 500 or (
                response.status_code == 503 and "retry-after" in {k.lower() for k in response.headers}
            ), (n, response.status_code, response.text[:500])
            if n % 25 == 0:
                assert http.get(f"{hub.base}/healthz", timeout=10).status_code == 200

    _fuzz_the_task_pane(hub, rng, values, tools)

    assert "Traceback" not in hub.log(), hub.log()[-3000:]
    # Every inline call has ended (background ones may still run on their own time).
    deadline = time.monotonic() + 30
    while True:
        running = httpx2.get(f"{hub.base}/api/v1/executions/?status=running&limit=500",
                             headers={"Authorization": f"Bearer {hub.tokens['root']}"}, timeout=30).json()
        inline = [e for e in running["results"] if e["mode"] == "inline"]
        if not inline or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert not inline, inline
    print(f"fuzz: {BUDGET} inputs, seed {SEED}, answers by status {dict(sorted(statuses.items()))}")
    assert sum(statuses.values()) == BUDGET


def _fuzz_the_task_pane(hub: Hub, rng: random.Random, values: Values, tools: list[dict[str, Any]]) -> None:
    """Random frames on signed-in sockets: each is answered with a frame or a documented close."""
    for _ in range(5):
        sock = _open(hub)
        try:
            sock.sendall(_frame(0x1, json.dumps({"type": "auth", "token": hub.tokens["alice"]}).encode()))
            assert b"authenticated" in sock.recv(65536)
            for n in range(12):
                tool = rng.choice(tools)
                frame: Any = rng.choice(
                    [
                        {
                            "type": "tool_execute",
                            "id": n,
                            "tool": tool["name"],
                            "arguments": values.for_schema(tool["input_schema"]),
                        },
                        {
                            "type": rng.choice(
                                ["ping", "tools_list", "execution_cancel", "execution_subscribe", "dance"]
                            ),
                            "id": values.anything(),
                            "execution_id": values.text()[:40],
                        },
                        values.anything(),
                    ]
                )
                raw = json.dumps(frame).encode() if rng.random() > 0.1 else values.text().encode()
                sock.sendall(_frame(0x1, raw))
            sock.settimeout(10)
            answered = sock.recv(65536)
            assert answered, "the socket closed without a frame"
        finally:
            sock.close()
