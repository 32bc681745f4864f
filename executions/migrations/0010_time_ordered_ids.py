"""New executions get time-ordered ids (UUIDv7, ``executions.models.execution_id``).

The default is made in Python, so nothing in the database changes: the state alone. (On
SQLite Django would copy the table into a new one for it, which drops the table's
triggers, ``0008``, and copies the whole history.) Existing ids stay as they are.
"""

from django.db import migrations, models

import executions.models


class Migration(migrations.Migration):
    dependencies = [
        ("executions", "0009_fewer_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="toolexecution",
                    name="id",
                    field=models.UUIDField(
                        default=executions.models.execution_id, editable=False, primary_key=True, serialize=False
                    ),
                ),
            ],
        ),
    ]
