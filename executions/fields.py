"""A JSON column that always loads.

The doors refuse deep nesting and numbers outside JSON (mcpsite/jsonlimits.py), but a row
stored before they did, or written by other means, could hold a value nested a thousand
levels deep: decoding it, encoding it for the API or pretty-printing it in the admin then
fails, and so would every page that shows the row. Such a value is read as a small
marker object instead; the row itself is kept as it is.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from mcpsite import jsonlimits


def _not_shown(reason: str) -> dict[str, str]:
    return {"not_shown": f"The stored value cannot be shown: {reason}"}


class StoredJSONField(models.JSONField):
    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        # Cheap test first: only a text with more brackets than the depth limit can be too deep.
        deep_enough = isinstance(value, str) and value.count("[") + value.count("{") > settings.MAX_JSON_DEPTH
        try:
            loaded = super().from_db_value(value, expression, connection)
        except RecursionError:
            return _not_shown("it is nested too deeply.")
        if deep_enough:
            problem = jsonlimits.arguments_problem(loaded, max_depth=settings.MAX_JSON_DEPTH)
            if problem is not None:
                return _not_shown(problem)
        return loaded
