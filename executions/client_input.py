"""Answers to a tool's questions from answers the caller already sent.

A door without a back-channel (MCP 2026-07-28 input requests, an MCP task parked as
``input_required``) runs the tool again from the start with the answers so far; each
question the tool asks is answered from them, checked against the question, or asked
again (``InputRequired``).
"""

from __future__ import annotations

from typing import Any

import jsonschema
import mcp_types as types
from pydantic import ValidationError

from tools.base import InputRequired, MissingClientCapability, ToolError

# Which client capability each kind of question needs, and the result type its answer must have.
QUESTIONS: dict[str, tuple[str, tuple[type[types.Result], ...]]] = {
    "elicitation/create": ("elicitation", (types.ElicitResult,)),
    "sampling/createMessage": ("sampling", (types.CreateMessageResult, types.CreateMessageResultWithTools)),
    "roots/list": ("roots", (types.ListRootsResult,)),
}

class InputRound:
    """Answers a tool's questions from the client's answers, or asks for the missing ones.

    Called on the tool's thread (a ``ClientInput``). ``missing_capability`` is set when a
    question needs a capability the client did not declare: the door answers -32021.
    """

    def __init__(
        self, *, capabilities: types.ClientCapabilities | None, answers: dict[str, dict[str, Any]], checked: bool = True
    ) -> None:
        self.capabilities = capabilities
        # A task's questions are not checked again here: its client declared what it can
        # answer when it created the task.
        self.checked = checked
        self.answers = answers
        self.missing_capability: str | None = None
        # The answers this run used, to keep for the next round.
        self.used: dict[str, dict[str, Any]] = {}

    def __call__(self, requests: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
        results: dict[str, dict[str, Any]] = {}
        pending: dict[str, dict[str, Any]] = {}
        for key, (method, params) in requests.items():
            if method not in QUESTIONS:
                raise _unsupported(method)
            capability, _ = QUESTIONS[method]
            if self.checked and not self._declared(capability):
                self.missing_capability = capability
                raise MissingClientCapability(capability)
            answer = self.answers.get(key)
            checked = check_answer(method, params, answer) if answer is not None else None
            if answer is None or checked is None:
                pending[key] = {"method": method, "params": params}
            else:
                results[key] = checked
                self.used[key] = answer
        if pending:
            raise InputRequired(pending)
        return results

    def declares(self, capability: str) -> bool:
        return self._declared(capability)

    def _declared(self, capability: str) -> bool:
        if not self.checked:
            return True
        caps = self.capabilities
        return caps is not None and getattr(caps, capability, None) is not None


def _unsupported(method: str) -> Exception:
    return ToolError(f"Tools cannot send {method} to the client.")


def check_answer(method: str, params: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any] | None:
    """The answer as the tool gets it, or None when it does not answer the question
    (wrong shape, or accepted elicitation content that breaks the requested schema)."""
    _, result_types = QUESTIONS[method]
    for result_type in result_types:
        try:
            parsed = result_type.model_validate(answer)
            break
        except ValidationError:
            continue
    else:
        return None
    checked = parsed.model_dump(by_alias=True, mode="json", exclude_none=True)
    if method == "elicitation/create" and checked.get("action") == "accept":
        schema = params.get("requestedSchema") or {"type": "object"}
        try:
            jsonschema.Draft202012Validator(schema).validate(checked.get("content") or {})
        except jsonschema.ValidationError:
            return None
    return checked
