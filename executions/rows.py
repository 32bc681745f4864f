"""The statements of a call's row on the hot path, with their SQL written once.

An inline call writes its ``ToolExecution`` twice: the INSERT as it starts and the
conditional UPDATE that finishes it (DESIGN.md, "What a call costs"). A background call
has a third, the worker's claim: one UPDATE … RETURNING that moves the row from pending
to running and reads it back (SQLite 3.35+ and PostgreSQL have RETURNING). Through the ORM,
each took about half a millisecond of Python on every call (issue 10): ``save()``'s
machinery, then building the query and compiling it to SQL, field by field. That was
more than the database's own work for the statement, and it was the same SQL every time.

Here the SQL is written once per database and set of columns, in the form Django's
compiler gives it (quoted names, one ``%s`` per value). Each call only adapts its values
with the fields' own ``get_db_prep_save``, as the compiler does, and runs the statement
on the connection's cursor, inside whatever transaction is open (so the statement
counts, the metrics and ``CaptureQueriesContext`` see it as before). ``ToolExecution``
has no ``pre_save`` or ``post_save`` receivers (a test checks that), so nothing that
listens for saves is skipped. Every other write of the row goes through the ORM.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any

from django.db import connections, router, transaction

from executions.models import ToolExecution

_META = ToolExecution._meta
_FIELDS = tuple(_META.concrete_fields)
_BY_NAME = {field.name: field for field in _FIELDS}
# Every concrete field has a column (only relations without one have None).
_COLUMNS: dict[str, str] = {field.name: field.column for field in _FIELDS if field.column is not None}


def _alias() -> str:
    return router.db_for_write(ToolExecution)


@lru_cache(maxsize=8)
def _insert_sql(alias: str) -> str:
    quote = connections[alias].ops.quote_name
    columns = ", ".join(quote(_COLUMNS[field.name]) for field in _FIELDS)
    values = ", ".join("%s" for _ in _FIELDS)
    return f"INSERT INTO {quote(_META.db_table)} ({columns}) VALUES ({values})"


@lru_cache(maxsize=64)
def _finish_sql(alias: str, names: tuple[str, ...], statuses: int) -> str:
    quote = connections[alias].ops.quote_name
    assignments = ", ".join(f"{quote(_COLUMNS[name])} = %s" for name in names)
    status_in = ", ".join("%s" for _ in range(statuses))
    return (
        f"UPDATE {quote(_META.db_table)} SET {assignments} "
        f"WHERE {quote(_COLUMNS[_META.pk.name])} = %s AND {quote(_COLUMNS['status'])} IN ({status_in})"
    )


@lru_cache(maxsize=8)
def _claim_sql(alias: str) -> str:
    quote = connections[alias].ops.quote_name
    columns = ", ".join(quote(_COLUMNS[field.name]) for field in _FIELDS)
    return (
        f"UPDATE {quote(_META.db_table)} SET {quote(_COLUMNS['status'])} = %s, {quote(_COLUMNS['started'])} = %s "
        f"WHERE {quote(_COLUMNS[_META.pk.name])} = %s AND {quote(_COLUMNS['status'])} = %s RETURNING {columns}"
    )


def insert(execution: ToolExecution) -> None:
    """INSERT a new row, as ``ToolExecution.objects.create`` would have (``execution``
    has its values, defaults included: its id is made on the client)."""
    alias = _alias()
    connection = connections[alias]
    params = [field.get_db_prep_save(field.pre_save(execution, True), connection) for field in _FIELDS]
    # As the ORM's save: a failure marks an enclosing atomic block for rollback.
    with transaction.mark_for_rollback_on_error(alias), connection.cursor() as cursor:
        cursor.execute(_insert_sql(alias), params)
    execution._state.adding = False
    execution._state.db = alias


def finish(pk: Any, *, where_status_in: Iterable[str], values: dict[str, Any]) -> int:
    """``filter(pk=pk, status__in=where_status_in).update(**values)``: the number of rows
    changed (0 when the row had already left those statuses)."""
    alias = _alias()
    connection = connections[alias]
    statuses = [str(status) for status in where_status_in]
    names = tuple(values)
    # None is SQL NULL, as the ORM's UPDATE writes it (for a JSON field too, not JSON null).
    params = [
        None if value is None else _BY_NAME[name].get_db_prep_save(value, connection) for name, value in values.items()
    ]
    params.append(_META.pk.get_db_prep_value(pk, connection))
    params.extend(statuses)
    with transaction.mark_for_rollback_on_error(alias), connection.cursor() as cursor:
        cursor.execute(_finish_sql(alias, names, len(statuses)), params)
        return cursor.rowcount


def claim(pk: Any, *, started: datetime) -> ToolExecution | None:
    """``filter(pk=pk, status="pending").update(status="running", started=started)``, then
    the row as it is now, in one statement: None when the row was not pending (another
    delivery claimed it, a cancellation ended it, it is gone). Its relations are not loaded."""
    alias = _alias()
    connection = connections[alias]
    params = [
        ToolExecution.Status.RUNNING, _BY_NAME["started"].get_db_prep_save(started, connection),
        _META.pk.get_db_prep_value(pk, connection), ToolExecution.Status.PENDING,
    ]
    with transaction.mark_for_rollback_on_error(alias), connection.cursor() as cursor:
        cursor.execute(_claim_sql(alias), params)
        row = cursor.fetchone()
    if row is None:
        return None
    # The values as a query would give them: each column through its backend's and its
    # field's converters (SQLite's text times and UUIDs, JSON), as the compiler applies them.
    values = list(row)
    for index, field in enumerate(_FIELDS):
        column = field.get_col(_META.db_table)
        for converter in connection.ops.get_db_converters(column) + column.get_db_converters(connection):
            values[index] = converter(values[index], column, connection)
    return ToolExecution.from_db(alias, [field.attname for field in _FIELDS], values)
