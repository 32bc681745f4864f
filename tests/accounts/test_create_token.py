"""`create_token --scope ... --expires ...`: the token keeps its scopes and lifetime, the
admin shows them, and bad values are refused with a clear message."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from accounts.models import APIToken
from accounts.services import principal_for_token

pytestmark = pytest.mark.django_db


def create(*args: str) -> str:
    out = StringIO()
    call_command("create_token", "alice", "--create-user", *args, stdout=out, stderr=StringIO())
    return out.getvalue().strip()


def test_it_limits_a_token_to_its_scopes_and_lifetime():
    token = create("--scope", "tools:read", "--scope", "executions:read", "--expires", "12h")

    principal = principal_for_token(token, door_url="http://testserver/api/v1/tools/")
    assert principal.scopes == {"tools:read", "executions:read"}
    row = APIToken.objects.get()
    assert row.scopes == "tools:read executions:read"
    assert timedelta(hours=11) < row.expiry - timezone.now() <= timedelta(hours=12)


def test_a_token_without_scope_has_every_scope_and_never_can_be_asked_for():
    token = create("--expires", "never")
    assert principal_for_token(token, door_url=None).scopes is None
    assert APIToken.objects.get().expiry is None


@pytest.mark.parametrize("args, message", [
    (("--scope", "tools:write"), "Unknown scope 'tools:write'"),
    (("--expires", "soon"), "use 30d, 12h"),
    (("--expires", "2001-01-01"), "not in the future"),
])
def test_it_refuses_bad_values(args, message):
    with pytest.raises(CommandError, match=message):
        create(*args)
    assert not APIToken.objects.exists()


def test_the_admin_shows_a_tokens_scopes(admin_user, client):
    create("--scope", "tools:read", "--name", "reader")
    client.force_login(admin_user)
    page = client.get("/admin/accounts/apitoken/").content.decode()
    assert "reader" in page and "tools:read" in page
