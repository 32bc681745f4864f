"""Questions to the client without a back-channel: MCP 2026-07-28 input requests (SEP-2322).

A 2026-07-28 request has no stream on which the server could send its own request, so
a tool's ``ctx.ask_client`` ends the call with an ``InputRequiredResult``: the questions
(``inputRequests``) and a ``requestState``. The client answers them and sends the same
request again with ``inputResponses`` and the state; the tool then runs again from the
start, and each question it asks is answered from what the client sent (or is asked
again, when the answer is missing or does not fit the question).

``requestState`` is sealed by the SDK's ``RequestStateBoundary`` (AES-GCM under a key
derived from ``SECRET_KEY``, bound to the method, the tool and its arguments, the caller
and an expiry), so a client can neither read nor change it, and every web process that
shares ``SECRET_KEY`` can resume it. For tool calls it names the ``ToolExecution``: the
answers so far are stored on that row, which is the same for every round.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import mcp_types as types
from django.conf import settings
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.context import ServerRequestContext
from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity

from mcp_server.sdk import connection_of

AUDIENCE = "mcpsite"


def request_state_boundary() -> RequestStateBoundary:
    """The server middleware that seals and verifies ``requestState``."""
    # A key of its own, derived from SECRET_KEY: every process of the hub shares it.
    key = hashlib.sha256(b"mcpsite/mcp/request-state\0" + settings.SECRET_KEY.encode()).hexdigest()
    security = RequestStateSecurity(keys=[key], ttl=settings.MCP_INPUT_TIMEOUT, bind_principal=_principal)
    return RequestStateBoundary(security, default_audience=AUDIENCE)


def _principal(ctx: ServerRequestContext[Any, Any]) -> str | None:
    # State minted for one user's call cannot resume another user's.
    request = ctx.request
    if request is None:
        return None  # stdio: one caller per process
    user = request.scope.get("user")
    if isinstance(user, AuthenticatedUser):
        return f"user:{user.access_token.subject}"
    return "anonymous"


def read_state(plaintext: str | None) -> dict[str, Any]:
    """The verified plaintext state the hub minted (the boundary already checked its seal)."""
    if not plaintext:
        return {}
    try:
        state = json.loads(plaintext)
    except ValueError:
        return {}
    return state if isinstance(state, dict) else {}


def write_state(state: dict[str, Any]) -> str:
    return json.dumps(state, separators=(",", ":"), sort_keys=True)


def wire_answers(responses: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """``inputResponses`` as plain JSON objects (each is checked against its question later)."""
    answers: dict[str, dict[str, Any]] = {}
    for key, value in (responses or {}).items():
        if hasattr(value, "model_dump"):
            value = value.model_dump(by_alias=True, mode="json", exclude_none=True)
        if isinstance(value, dict):
            answers[str(key)] = value
    return answers


def client_capabilities(ctx: ServerRequestContext[Any, Any]) -> types.ClientCapabilities | None:
    conn = connection_of(ctx)
    return conn.client_capabilities if conn is not None else None


def input_required_result(requests: dict[str, Any], state: dict[str, Any]) -> types.InputRequiredResult:
    return types.InputRequiredResult.model_validate({
        "resultType": "input_required", "inputRequests": requests, "requestState": write_state(state),
    })
