from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import models


class ToolConfig(models.Model):
    """Operator overrides for one tool, edited in the admin. No row means defaults."""

    tool_name = models.CharField(max_length=200, unique=True)
    enabled = models.BooleanField(default=True)
    timeout_seconds = models.FloatField(null=True, blank=True, help_text="Overrides the tool's timeout.")
    rate_limit = models.CharField(
        max_length=32,
        blank=True,
        help_text='Calls per user, like "10/m", "100/h" or "1000/d". Blank uses TOOL_RATE_LIMIT.',
    )
    cache_ttl_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Overrides the cache TTL of a cacheable tool (0 turns caching off)."
    )
    groups = models.ManyToManyField(
        "auth.Group", blank=True, related_name="tool_configs",
        help_text="Only members of these groups (and hub admins) see and call the tool. None: everyone.",
    )
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tool_name"]
        verbose_name = "tool configuration"

    def __str__(self) -> str:
        return self.tool_name


PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def validate_prompt_arguments(value: object) -> None:
    if not isinstance(value, list):
        raise ValidationError("A list of arguments, like [{\"name\": \"text\", \"required\": true}].")
    names = set()
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].isidentifier():
            raise ValidationError("Each argument needs a name that is an identifier (letters, digits, _).")
        unknown = set(item) - {"name", "description", "required", "choices"}
        if unknown:
            raise ValidationError(f"Unknown keys in argument {item['name']!r}: {', '.join(sorted(unknown))}.")
        choices = item.get("choices", [])
        if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
            raise ValidationError(f"The choices of argument {item['name']!r} must be a list of strings.")
        if item["name"] in names:
            raise ValidationError(f"Argument {item['name']!r} is listed twice.")
        names.add(item["name"])


class Prompt(models.Model):
    """A prompt template offered to MCP clients (``prompts/list``, ``prompts/get``).

    The template is the text of one user message; ``{name}`` is replaced with the
    argument of that name (``{{`` and ``}}`` are literal braces).
    """

    name = models.SlugField(max_length=100, unique=True, help_text="What clients ask for, like proofread.")
    title = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    arguments = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_prompt_arguments],
        help_text='Like [{"name": "tone", "description": "The tone", "required": true, '
        '"choices": ["formal", "friendly"]}]; choices feed completion/complete.',
    )
    template = models.TextField(help_text="The user message; {argument} is replaced with the argument's value.")
    enabled = models.BooleanField(default=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        declared = (
            {a.get("name") for a in self.arguments if isinstance(a, dict)}
            if isinstance(self.arguments, list)
            else set()
        )
        used = set(PLACEHOLDER.findall(self.template.replace("{{", "").replace("}}", "")))
        missing = used - declared
        if missing:
            raise ValidationError({"template": f"Not declared as arguments: {', '.join(sorted(missing))}."})

    def render(self, values: dict[str, str]) -> str:
        """The template with the arguments filled in; raises ``KeyError`` naming a missing required one."""
        for argument in self.arguments:
            if argument.get("required") and not values.get(argument["name"]):
                raise KeyError(argument["name"])
        text = self.template.replace("{{", "\x00").replace("}}", "\x01")
        text = PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), "")), text)
        return text.replace("\x00", "{").replace("\x01", "}")
