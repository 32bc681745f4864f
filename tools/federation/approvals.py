"""Approved tool definitions: a remote tool whose definition changed after approval is held.

A remote server could change what a tool says it does (its description, schemas or
hints) after an operator looked at it ("rug pull"). The definition seen first is stored
as approved; a later different one is a drift: the tool is listed as unavailable, with
the approved definition, until an admin approves the new one (or the server is set to
auto-approve).
"""

from __future__ import annotations

import difflib
import json
import logging
from typing import Any

from prometheus_client import Counter

logger = logging.getLogger(__name__)

# What the caller's model reads and acts on; other fields (icons, _meta) may change freely.
DEFINITION_KEYS = ("name", "title", "description", "inputSchema", "outputSchema", "annotations")

TOOL_DRIFTS = Counter(
    "mcpsite_federation_tool_drifts_total",
    "Remote tool definitions that changed after approval.",
    ["server", "outcome"],  # outcome: held | auto_approved
)


def definition(raw: dict[str, Any]) -> dict[str, Any]:
    return {key: raw[key] for key in DEFINITION_KEYS if raw.get(key) is not None}


def changed_fields(approved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    return [key for key in DEFINITION_KEYS if approved.get(key) != current.get(key)]


def diff_text(approved: dict[str, Any], current: dict[str, Any]) -> str:
    before = json.dumps(approved, indent=2, sort_keys=True).splitlines()
    after = json.dumps(current, indent=2, sort_keys=True).splitlines()
    return "\n".join(difflib.unified_diff(before, after, "approved", "now offered", lineterm=""))


def review(
    *, server: str, tools: list[dict[str, Any]], previous: list[dict[str, Any]], approved: dict[str, Any], auto: bool
) -> dict[str, Any]:
    """The approved definitions after a new listing ``tools`` (``previous``: the one stored before).

    A tool seen for the first time is approved as it is. A changed definition is approved
    only with ``auto``; either way it is logged and counted once, when it first appears.
    """
    approved = dict(approved)
    before = {t.get("name"): definition(t) for t in previous if isinstance(t, dict)}
    for raw in tools:
        current = definition(raw)
        name = current.get("name")
        if not isinstance(name, str):
            continue
        if name not in approved:
            approved[name] = current
            continue
        if approved[name] == current:
            continue
        fields = ", ".join(changed_fields(approved[name], current))
        news = before.get(name) != current  # not a re-listing of a drift already seen
        if auto:
            approved[name] = current
            if news:
                TOOL_DRIFTS.labels(server=server, outcome="auto_approved").inc()
                logger.warning(
                    "remote tool %s__%s changed (%s); auto-approved", server, name, fields,
                    extra={"remote_server": server, "remote_tool": name, "changed": fields},
                )
        elif news:
            TOOL_DRIFTS.labels(server=server, outcome="held").inc()
            logger.warning(
                "remote tool %s__%s changed (%s) since it was approved; held until an admin approves it",
                server, name, fields,
                extra={"remote_server": server, "remote_tool": name, "changed": fields},
            )
    return approved


def held(tools: list[dict[str, Any]], approved: dict[str, Any]) -> dict[str, list[str]]:
    """The tools whose offered definition differs from the approved one, with the fields that changed."""
    out = {}
    for raw in tools:
        if not isinstance(raw, dict):
            continue
        current = definition(raw)
        name = current.get("name")
        if isinstance(name, str) and name in approved and approved[name] != current:
            out[name] = changed_fields(approved[name], current)
    return out
