"""Limits on the JSON the hub accepts, checked before anything recurses over it.

Every door (``/mcp``, the REST API, the task pane's WebSocket) reads a body or frame with
``loads``: nesting deeper than ``MAX_JSON_DEPTH`` is refused before the parser descends
into it (Python's parser, and everything that later walks the value, recurses once per
level and fails past about a thousand), and numbers outside JSON (``NaN``, ``Infinity``,
``1e999``) are refused rather than stored as values no database or client can take.
The execution service holds tool arguments to the same rules with ``arguments_problem``.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from typing import Any

from django.conf import settings

# A JSON string, possessive so that it runs in linear time whatever it holds.
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


class JSONRefused(ValueError):
    """The text is not JSON the hub accepts; the message says why, for the caller."""


def nesting_depth(raw: bytes) -> int:
    """How deeply the JSON text ``raw`` nests arrays and objects (strings skipped), without
    parsing it. Linear, and in C but for the brackets themselves."""
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    if not brackets:
        return 0
    return max(itertools.accumulate(map(_STEP.__getitem__, brackets)))


def _refuse_constant(name: str) -> Any:
    raise JSONRefused(f"{name} is not a JSON number.")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise JSONRefused(f"the number {text[:40]} is out of range.")
    return value


def loads(raw: bytes | str, *, max_depth: int | None = None) -> Any:
    """``json.loads`` with the hub's limits; raises ``JSONRefused`` (a ValueError) for
    what is not JSON or is JSON the hub does not take."""
    limit = settings.MAX_JSON_DEPTH if max_depth is None else max_depth
    data = raw.encode() if isinstance(raw, str) else raw
    if data.count(b"[") + data.count(b"{") > limit and nesting_depth(data) > limit:
        raise JSONRefused(f"the JSON nests deeper than {limit} levels.")
    try:
        return json.loads(data, parse_constant=_refuse_constant, parse_float=_finite_float)
    except JSONRefused:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise JSONRefused(f"not valid JSON ({exc}).") from None


def arguments_problem(value: Any, *, max_depth: int | None = None) -> str | None:
    """Why a tool call's arguments cannot be taken (too deep, or a number JSON cannot
    hold), or None. Iterative, so that a value of any depth is walked safely."""
    limit = settings.MAX_ARGUMENT_DEPTH if max_depth is None else max_depth
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth >= limit:
                return f"arguments nest deeper than {limit} levels."
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, (list, tuple)):
            if depth >= limit:
                return f"arguments nest deeper than {limit} levels."
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, float) and not math.isfinite(item):
            return f"{item} is not a JSON number."
    return None
