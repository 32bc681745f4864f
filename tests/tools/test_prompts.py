"""The Prompt model: what the admin accepts and how a prompt is filled in."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from tools.models import Prompt

pytestmark = pytest.mark.django_db


def prompt(**fields) -> Prompt:
    defaults = {"name": "p", "arguments": [{"name": "text", "required": True}], "template": "Check: {text}"}
    return Prompt(**{**defaults, **fields})


@pytest.mark.parametrize(
    "arguments",
    [
        {"name": "text"},  # not a list
        [{"description": "no name"}],
        [{"name": "not an identifier"}],
        [{"name": "text"}, {"name": "text"}],
        [{"name": "text", "default": "x"}],  # unknown key
        [{"name": "tone", "choices": "formal"}],  # choices not a list
    ],
)
def test_the_admin_refuses_malformed_arguments(arguments):
    with pytest.raises(ValidationError):
        prompt(arguments=arguments).full_clean()


def test_a_placeholder_must_be_a_declared_argument():
    with pytest.raises(ValidationError) as refused:
        prompt(template="Check {text} in {language}").full_clean()
    assert "language" in str(refused.value)
    prompt(template="Literal {{braces}} and {text}").full_clean()  # escaped braces are fine


def test_render_fills_in_arguments_and_names_a_missing_required_one():
    filled = prompt(
        arguments=[{"name": "text", "required": True}, {"name": "tone", "choices": ["formal"]}],
        template="Rewrite {text} ({tone}) {{as is}}",
    )
    filled.full_clean()
    assert filled.render({"text": "hi", "tone": "formal"}) == "Rewrite hi (formal) {as is}"
    assert filled.render({"text": "hi"}) == "Rewrite hi () {as is}"
    with pytest.raises(KeyError) as missing:
        filled.render({"tone": "formal"})
    assert missing.value.args[0] == "text"


def test_the_default_prompts_are_there_after_migrate():
    names = set(Prompt.objects.values_list("name", flat=True))
    assert {"proofread", "summarize_selection", "rewrite_tone", "translate_selection"} <= names
    for p in Prompt.objects.all():
        p.full_clean()  # the seeded rows pass the admin's own validation


def test_operators_edit_prompts_in_the_admin(client, admin_user):
    client.force_login(admin_user)
    listing = client.get("/admin/tools/prompt/")
    assert listing.status_code == 200 and b"proofread" in listing.content
    response = client.post("/admin/tools/prompt/add/", {
        "name": "shorten", "title": "Shorten", "description": "Make it shorter.",
        "arguments": '[{"name": "text", "required": true}]', "template": "Shorten: {text}", "enabled": "on",
    })
    assert response.status_code == 302
    assert Prompt.objects.get(name="shorten").render({"text": "abc"}) == "Shorten: abc"
    refused = client.post("/admin/tools/prompt/add/", {
        "name": "broken", "arguments": "[]", "template": "Uses {undeclared}", "enabled": "on",
    })
    assert refused.status_code == 200 and not Prompt.objects.filter(name="broken").exists()
