from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin

from tools.models import Prompt, ToolConfig
from tools.rates import parse_rate
from tools.registry import registry


class ToolConfigForm(forms.ModelForm):
    class Meta:
        model = ToolConfig
        fields = ["tool_name", "enabled", "timeout_seconds", "rate_limit", "cache_ttl_seconds", "groups"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = registry.names()
        current = self.instance.tool_name if self.instance and self.instance.pk else None
        if current and current not in names:
            names.append(current)
        self.fields["tool_name"] = forms.ChoiceField(choices=[(n, n) for n in sorted(names)])

    def clean_rate_limit(self) -> str:
        value = self.cleaned_data["rate_limit"]
        try:
            parse_rate(value)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        return value


@admin.register(ToolConfig)
class ToolConfigAdmin(admin.ModelAdmin):
    form = ToolConfigForm
    list_display = (
        "tool_name",
        "enabled",
        "group_names",
        "timeout_seconds",
        "rate_limit",
        "cache_ttl_seconds",
        "updated",
    )
    filter_horizontal = ("groups",)
    list_editable = ("enabled",)
    list_filter = ("enabled",)
    search_fields = ("tool_name",)
    actions = ["enable", "disable"]

    @admin.display(description="groups")
    def group_names(self, obj: ToolConfig) -> str:
        return ", ".join(g.name for g in obj.groups.all()) or "everyone"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    @admin.action(description="Enable selected tools")
    def enable(self, request, queryset) -> None:
        for config in queryset:  # save() per row so the change signal notifies clients
            config.enabled = True
            config.save()

    @admin.action(description="Disable selected tools")
    def disable(self, request, queryset) -> None:
        for config in queryset:
            config.enabled = False
            config.save()


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    """Prompts that MCP clients list and fill in; saving one tells connected clients."""

    list_display = ("name", "title", "enabled", "updated")
    list_editable = ("enabled",)
    list_filter = ("enabled",)
    search_fields = ("name", "title", "description")
