"""The database backend as the project configures it: every statement counted for
/metrics, with a cursor class made once (mcpsite/backends/sqlite3)."""

import pytest
from django.db import connection
from prometheus_client import REGISTRY

pytestmark = pytest.mark.django_db


def executed() -> float:
    labels = {"alias": "default", "vendor": connection.vendor}
    return REGISTRY.get_sample_value("django_db_execute_total", labels) or 0.0


def test_every_statement_is_counted_and_cursors_share_one_class():
    before = executed()
    classes = set()
    for _ in range(3):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            classes.add(type(cursor.cursor))
    assert executed() - before == 3
    # One class for every cursor of the connection: django-prometheus's SQLite backend
    # built a new one for each (three classes here), PostgreSQL's one per connection.
    assert len(classes) == 1
