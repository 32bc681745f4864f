"""django-prometheus's SQLite backend, with its counting cursor class made once.

django-prometheus counts every statement and its duration with a cursor class of its own,
which its SQLite backend builds anew for every cursor (``ExportingCursorWrapper`` defines
a class on each call, and the ORM opens a cursor per statement). Building that class
took about half of a cheap statement's time in Python (30 of 60 us for a ``SELECT 1``),
and each one is garbage that only the cyclic collector frees (issue 10). The class
depends only on the connection's alias and vendor, so this backend builds it once per
connection wrapper; the metrics stay the same. (Its PostgreSQL backend already builds it
once per connection.)
"""

from __future__ import annotations

from typing import Any

from django_prometheus.db.backends.sqlite3 import base
from django_prometheus.db.common import ExportingCursorWrapper


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.counting_cursor_class = ExportingCursorWrapper(self.CURSOR_CLASS, self.alias, self.vendor)

    def create_cursor(self, name: str | None = None) -> Any:
        return self.connection.cursor(factory=self.counting_cursor_class)
