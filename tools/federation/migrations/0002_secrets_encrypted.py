"""Remote servers' secrets are stored encrypted; existing plain-text secrets are encrypted."""

from __future__ import annotations

from typing import Any

from django.db import migrations

import tools.federation.models
import tools.federation.secrets


def _column_rows(schema_editor: Any, apps: Any) -> tuple[Any, str, list[tuple[int, str]]]:
    # Raw SQL: the model field would try to decrypt the plain text it is about to encrypt.
    model = apps.get_model("federation", "RemoteServer")
    table = schema_editor.quote_name(model._meta.db_table)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT id, secret FROM {table}")  # noqa: S608 (no user input)
        return model, table, list(cursor.fetchall())


def encrypt_existing(apps: Any, schema_editor: Any) -> None:
    from cryptography.fernet import InvalidToken

    _, table, rows = _column_rows(schema_editor, apps)
    with schema_editor.connection.cursor() as cursor:
        for pk, value in rows:
            if not value:
                continue
            try:
                tools.federation.secrets.fernet().decrypt(value.encode())
                continue  # encrypted already (the migration ran on a copy before)
            except InvalidToken:
                pass
            cursor.execute(
                f"UPDATE {table} SET secret = %s WHERE id = %s",  # noqa: S608
                [tools.federation.secrets.encrypt(value), pk],
            )


def decrypt_existing(apps: Any, schema_editor: Any) -> None:
    _, table, rows = _column_rows(schema_editor, apps)
    with schema_editor.connection.cursor() as cursor:
        for pk, value in rows:
            if not value:
                continue
            plain = tools.federation.secrets.decrypt(value)
            if isinstance(plain, tools.federation.secrets.Sealed):
                continue
            cursor.execute(f"UPDATE {table} SET secret = %s WHERE id = %s", [plain[:500], pk])  # noqa: S608


class Migration(migrations.Migration):
    dependencies = [("federation", "0001_initial")]

    operations = [
        migrations.AlterField(
            model_name="remoteserver",
            name="secret",
            field=tools.federation.secrets.EncryptedTextField(
                blank=True, help_text="Sent as 'Authorization: Bearer <secret>' (HTTP only). Stored encrypted."
            ),
        ),
        migrations.AddField(
            model_name="remoteserver",
            name="secret_headers",
            field=tools.federation.secrets.EncryptedJSONField(
                blank=True,
                default=dict,
                help_text="HTTP headers whose values are secret (API keys). Stored encrypted.",
                validators=[tools.federation.models.validate_headers],
            ),
        ),
        migrations.RunPython(encrypt_existing, decrypt_existing),
    ]
