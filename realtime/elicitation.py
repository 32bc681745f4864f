"""Elicitation in the task pane: which questions its form can show, and whether an answer fits.

A tool (a remote server's ``elicitation/create`` during a call, or a built-in's
``ctx.ask_client``) asks the person at the pane with a small form: a message and a flat
object of string, number, integer and boolean fields (MCP's form mode). The pane's answer
is checked against the requested schema here before it goes back to the tool.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import mcp_types as types
import pydantic

FIELD_TYPES = ("string", "number", "integer", "boolean")
ACTIONS = ("accept", "decline", "cancel")


class AnswerRefused(Exception):
    """An answer frame that does not answer its question: an ``error`` frame with ``code``."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)


def form_problem(params: dict[str, Any]) -> str | None:
    """Why the pane cannot show this ``elicitation/create`` as a form, or None when it can."""
    mode = params.get("mode") or "form"
    if mode != "form":
        return f"The task pane answers only form elicitation, not {mode!r} mode."
    if not isinstance(params.get("message"), str):
        return "The question has no message to show."
    schema = params.get("requestedSchema")
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        return "The question's requestedSchema must be a JSON object schema."
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        return f"The question's requestedSchema is not a valid JSON Schema: {exc.message}"
    properties = schema.get("properties") or {}
    if not isinstance(properties, dict):
        return "The question's requestedSchema has no properties object."
    for name, field in properties.items():
        if not isinstance(field, dict) or field.get("type") not in FIELD_TYPES:
            return (
                f"The task pane's form cannot show the field {name!r}: it takes string, number, integer "
                "and boolean fields."
            )
    required = schema.get("required") or []
    if not isinstance(required, list) or any(name not in properties for name in required):
        return "The question's requestedSchema requires fields it does not define."
    return None


def answer_result(schema: dict[str, Any], action: Any, content: Any) -> dict[str, Any]:
    """The ``elicitation/create`` result for the pane's answer; raises ``AnswerRefused``."""
    if action not in ACTIONS:
        raise AnswerRefused("invalid_field", "action must be accept, decline or cancel.")
    if action != "accept":
        return {"action": action}  # content goes only with accept
    if content is None:
        content = {}
    if not isinstance(content, dict):
        raise AnswerRefused("invalid_answer", "content must be a JSON object of the form's values.")
    properties = schema.get("properties") or {}
    unknown = sorted(name for name in content if name not in properties)
    if unknown:
        raise AnswerRefused("invalid_answer", f"The question did not ask for {', '.join(map(repr, unknown))}.")
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(content), key=lambda error: list(error.path))
    if errors:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error.path)}: {error.message}" if error.path else error.message
            for error in errors
        )
        raise AnswerRefused("invalid_answer", f"The answer does not fit the question: {problems}.")
    result = {"action": "accept", "content": content}
    try:
        types.ElicitResult.model_validate(result)
    except pydantic.ValidationError:
        raise AnswerRefused("invalid_answer", "Values must be strings, numbers or booleans.") from None
    return result
