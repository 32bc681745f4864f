from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import APIToken
from accounts.services import user_for_token
from executions.models import ToolExecution

pytestmark = pytest.mark.django_db


def test_run_tool_prints_the_result_and_records_a_cli_execution(admin_user):
    out = StringIO()
    call_command("run_tool", "text_statistics", "--args", '{"text": "One. Two three."}', stdout=out)
    assert json.loads(out.getvalue())["words"] == 3
    row = ToolExecution.objects.get()
    assert (row.via, row.user, row.session.kind) == ("cli", admin_user, "cli")
    assert row.session.ended is not None


@pytest.mark.parametrize(
    "args, message",
    [
        (["nope"], "Unknown tool"),
        (["text_statistics", "--args", "{bad"], "not valid JSON"),
        (["text_statistics", "--args", '{"text": 5}'], "Invalid arguments"),
        (["text_statistics", "--user", "ghost"], "No active user"),
    ],
)
def test_run_tool_exits_non_zero_with_the_reason(admin_user, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("run_tool", *args)
    assert ToolExecution.objects.count() == 0


def test_list_tools_lists_the_registry():
    out = StringIO()
    call_command("list_tools", stdout=out)
    assert "text_statistics" in out.getvalue()


def test_create_token_prints_only_a_working_token():
    out, err = StringIO(), StringIO()
    call_command("create_token", "bob", "--create-user", "--name", "laptop", stdout=out, stderr=err)
    token = out.getvalue().strip()
    assert "\n" not in token and token.startswith("mcps_")
    user, api_token = user_for_token(token)
    assert user.username == "bob" and api_token.name == "laptop"
    # Only the hash is stored.
    assert not APIToken.objects.filter(digest=token).exists() and token not in api_token.digest


def test_create_token_refuses_an_unknown_user_without_create_user():
    with pytest.raises(CommandError, match="--create-user"):
        call_command("create_token", "nobody")


def test_a_deleted_token_no_longer_authenticates(user):
    from accounts.services import token_create

    row, token = token_create(user=user, name="x")
    assert user_for_token(token) is not None
    row.delete()
    assert user_for_token(token) is None
    assert user_for_token("garbage") is None
