from __future__ import annotations

from typing import Any

from rest_framework import serializers

from executions.models import Session, ToolExecution


class ToolExecutionSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", default=None, read_only=True)
    url = serializers.HyperlinkedIdentityField(view_name="api:execution-detail")

    class Meta:
        model = ToolExecution
        fields = [
            "id", "url", "tool_name", "server", "user", "session", "parent", "via", "mode", "status", "arguments",
            "result", "error", "cache_hit", "progress", "progress_total", "progress_message",
            "duration_ms", "created", "started", "finished",
        ]
        read_only_fields = fields


class SessionSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", default=None, read_only=True)
    executions = serializers.IntegerField(source="execution_count", read_only=True)  # kept as calls are recorded

    class Meta:
        model = Session
        fields = ["id", "user", "kind", "client_info", "created", "last_activity", "ended", "executions"]
        read_only_fields = fields


class ExecuteRequestSerializer(serializers.Serializer):
    arguments = serializers.JSONField(default=dict, help_text="The tool's arguments, matching its input_schema.")

    def validate_arguments(self, value: Any) -> Any:
        if not isinstance(value, dict):
            raise serializers.ValidationError("arguments must be a JSON object.")
        return value
