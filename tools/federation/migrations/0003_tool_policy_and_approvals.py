"""Per-server tool allow/deny lists, auto-approve, and approved tool definitions.

The tools a server offers today are taken as approved, so upgrading holds nothing.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations, models

import tools.federation.models


def approve_current(apps: Any, schema_editor: Any) -> None:
    from tools.federation.approvals import definition

    RemoteServer = apps.get_model("federation", "RemoteServer")
    for server in RemoteServer.objects.all():
        approved = {}
        for raw in server.tools or []:
            if isinstance(raw, dict) and isinstance(raw.get("name"), str):
                approved[raw["name"]] = definition(raw)
        RemoteServer.objects.filter(pk=server.pk).update(approved_tools=approved)


class Migration(migrations.Migration):
    dependencies = [("federation", "0002_secrets_encrypted")]

    operations = [
        migrations.AddField(
            model_name="remoteserver",
            name="allowed_tools",
            field=models.JSONField(
                blank=True, default=list,
                help_text='Only these remote tools are offered (patterns like "read_*"); empty: all.',
                validators=[tools.federation.models.validate_patterns],
            ),
        ),
        migrations.AddField(
            model_name="remoteserver",
            name="denied_tools",
            field=models.JSONField(
                blank=True, default=list,
                help_text="These remote tools are never offered (patterns); wins over the allow list.",
                validators=[tools.federation.models.validate_patterns],
            ),
        ),
        migrations.AddField(
            model_name="remoteserver",
            name="auto_approve",
            field=models.BooleanField(
                default=False,
                help_text="Accept changed tool definitions without review (still logged). Off: a changed tool is held.",
            ),
        ),
        migrations.AddField(
            model_name="remoteserver",
            name="approved_tools",
            field=models.JSONField(blank=True, default=dict, editable=False),
        ),
        migrations.RunPython(approve_current, migrations.RunPython.noop),
    ]
