"""The database keeps ``Session.execution_count`` itself (issue 10).

Until now the service ran an UPDATE of the session after each execution's INSERT: one
statement (on PostgreSQL one transaction) in three of every call, and a count that a
crash between the two statements left one short. Triggers count instead, in the same
statement as the INSERT or DELETE of executions:

- SQLite: row triggers (SQLite has no other kind; its UPDATE is in place, so a bulk
  insert of many rows of one session costs one small UPDATE per row).
- PostgreSQL: statement triggers with transition tables, so a bulk insert updates each
  session once. A row trigger would update the same session row once per inserted row
  in one transaction, and each such update walks the row's growing chain of versions.

A deletion of executions takes them off the count (never below zero). An execution
does not change its session once recorded (deleting a session sets its executions'
session to NULL, and the session is gone), so UPDATE needs no trigger, and the hot
path's finishing UPDATE runs none.
"""

from importlib import import_module

from django.db import migrations

SQLITE_FORWARD = [
    """
    CREATE TRIGGER executions_toolexecution_counted
    AFTER INSERT ON executions_toolexecution
    FOR EACH ROW WHEN NEW.session_id IS NOT NULL
    BEGIN
        UPDATE executions_session SET execution_count = execution_count + 1 WHERE id = NEW.session_id;
    END
    """,
    """
    CREATE TRIGGER executions_toolexecution_uncounted
    AFTER DELETE ON executions_toolexecution
    FOR EACH ROW WHEN OLD.session_id IS NOT NULL
    BEGIN
        UPDATE executions_session SET execution_count = max(execution_count - 1, 0) WHERE id = OLD.session_id;
    END
    """,
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS executions_toolexecution_counted",
    "DROP TRIGGER IF EXISTS executions_toolexecution_uncounted",
]

POSTGRESQL_FORWARD = [
    """
    CREATE FUNCTION executions_session_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE executions_session AS s SET execution_count = s.execution_count + n.added
        FROM (SELECT session_id, count(*) AS added FROM inserted
              WHERE session_id IS NOT NULL GROUP BY session_id) AS n
        WHERE s.id = n.session_id;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE FUNCTION executions_session_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE executions_session AS s SET execution_count = greatest(s.execution_count - n.removed, 0)
        FROM (SELECT session_id, count(*) AS removed FROM deleted
              WHERE session_id IS NOT NULL GROUP BY session_id) AS n
        WHERE s.id = n.session_id;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER executions_toolexecution_counted
    AFTER INSERT ON executions_toolexecution
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION executions_session_count_inserted()
    """,
    """
    CREATE TRIGGER executions_toolexecution_uncounted
    AFTER DELETE ON executions_toolexecution
    REFERENCING OLD TABLE AS deleted
    FOR EACH STATEMENT EXECUTE FUNCTION executions_session_count_deleted()
    """,
]
POSTGRESQL_BACKWARD = [
    "DROP TRIGGER IF EXISTS executions_toolexecution_counted ON executions_toolexecution",
    "DROP TRIGGER IF EXISTS executions_toolexecution_uncounted ON executions_toolexecution",
    "DROP FUNCTION IF EXISTS executions_session_count_inserted()",
    "DROP FUNCTION IF EXISTS executions_session_count_deleted()",
]

STATEMENTS = {
    "sqlite": (SQLITE_FORWARD, SQLITE_BACKWARD),
    "postgresql": (POSTGRESQL_FORWARD, POSTGRESQL_BACKWARD),
}


def _run(schema_editor, forward: bool) -> None:
    vendor = schema_editor.connection.vendor
    if vendor not in STATEMENTS:
        raise NotImplementedError(
            f"mcpsite keeps session counts with triggers written for SQLite and PostgreSQL, not {vendor}."
        )
    for statement in STATEMENTS[vendor][0 if forward else 1]:
        schema_editor.execute(statement, params=None)


def create_triggers(apps, schema_editor):
    _run(schema_editor, forward=True)


def drop_triggers(apps, schema_editor):
    _run(schema_editor, forward=False)


# Calls recorded while the service counted (a crash between its two statements left one
# uncounted; a deleted execution stayed counted) are counted again from the rows, as
# migration 0005 first did.
recount = import_module("executions.migrations.0005_history_at_scale").count_executions


class Migration(migrations.Migration):

    dependencies = [
        ("executions", "0007_execution_parent"),
    ]

    operations = [
        migrations.RunPython(create_triggers, drop_triggers),
        migrations.RunPython(recount, migrations.RunPython.noop),
    ]
