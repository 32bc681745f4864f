"""The REST API's parser and paginator (named in settings.REST_FRAMEWORK).

Apart from ``mcpsite.api`` on purpose: DRF imports the classes its settings name while it
defines ``APIView``, so this module must not import DRF's views (``mcpsite.api`` does).
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import JSONParser as DRFJSONParser

from mcpsite import jsonlimits


class JSONParser(DRFJSONParser):
    """DRF's JSON parser with the hub's limits (mcpsite/jsonlimits.py): a body nested
    2,000 levels deep answered 500 from the parser's recursion."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return jsonlimits.loads(stream.read())
        except jsonlimits.JSONRefused as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None


class Pagination(LimitOffsetPagination):
    """``?limit=&offset=`` paging with a ceiling: a larger ``limit`` is served as
    ``max_limit`` rows (an unbounded one reached the database as an integer it cannot
    hold and answered 500). An offset past the end is an empty page, not a query."""

    max_limit = 500
