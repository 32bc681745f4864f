"""Fewer indexes for every call's INSERT to write (issue 10).

Each index of the executions table is written by every call's INSERT: on SQLite each
one is a page or two more in the write-ahead log, and the INSERT cost about 350 us of
which the indexes took about 290. Three of the twelve served nothing the others do not:

- ``user_id`` and ``session_id`` had an index each (Django's default for a foreign key)
  besides the ``(user, -created)`` and ``(session, -created)`` indexes, which lead with
  the same column and serve the same lookups;
- ``parent_id`` (a sub-call's caller) is NULL for nearly every row: a partial index of
  the rows that have one serves ``parent = <id>`` and leaves the door's calls out.

Only the indexes change. Django would make this AlterField on SQLite by copying the table
into a new one, which drops the table's triggers (``0008``) and copies the whole history:
so the database side is DROP INDEX (and CREATE INDEX back), under the names Django gave
these indexes on both databases.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

TABLE = "executions_toolexecution"
# The names Django gave the foreign keys' indexes (0001, 0007), on SQLite and PostgreSQL alike.
COLUMN_INDEXES = {
    "executions_toolexecution_user_id_7ad918ec": "user_id",
    "executions_toolexecution_session_id_b4c2bd80": "session_id",
    "executions_toolexecution_parent_id_9cca847a": "parent_id",
}


class Migration(migrations.Migration):
    dependencies = [
        ("executions", "0008_session_count_trigger"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="toolexecution",
                    name="parent",
                    field=models.ForeignKey(
                        blank=True, db_index=False, editable=False, null=True,
                        on_delete=django.db.models.deletion.SET_NULL, related_name="children",
                        to="executions.toolexecution",
                    ),
                ),
                migrations.AlterField(
                    model_name="toolexecution",
                    name="session",
                    field=models.ForeignKey(
                        blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL,
                        related_name="executions", to="executions.session",
                    ),
                ),
                migrations.AlterField(
                    model_name="toolexecution",
                    name="user",
                    field=models.ForeignKey(
                        blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL,
                        related_name="tool_executions", to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql=[f'DROP INDEX IF EXISTS "{name}"' for name in COLUMN_INDEXES],
                    reverse_sql=[
                        f'CREATE INDEX IF NOT EXISTS "{name}" ON "{TABLE}" ("{column}")'
                        for name, column in COLUMN_INDEXES.items()
                    ],
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="toolexecution",
            index=models.Index(
                condition=models.Q(("parent__isnull", False)), fields=["parent"], name="execution_subcalls"
            ),
        ),
    ]
