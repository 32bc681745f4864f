from __future__ import annotations

import uuid

import uuid6
from django.conf import settings
from django.db import models
from django.utils import timezone

from executions.fields import StoredJSONField


class Via(models.TextChoices):
    MCP = "mcp", "MCP"
    WS = "ws", "WebSocket"
    API = "api", "REST API"
    CLI = "cli", "Command line"


class Session(models.Model):
    """One connection or client of a door: an add-in socket, an MCP session, ..."""

    class Kind(models.TextChoices):
        ADDIN = "addin", "Word Add-in"
        MCP = "mcp", "MCP"
        API = "api", "REST API"
        CLI = "cli", "Command line"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="tool_sessions"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    client_info = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    last_activity = models.DateTimeField(auto_now_add=True)
    ended = models.DateTimeField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    # How many executions the session holds, counted as each is recorded: a list of
    # sessions must not count a stateless client's hundred thousand calls per row.
    execution_count = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["kind", "-created"]), models.Index(fields=["user", "-created"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} session {str(self.id)[:8]}"


def execution_id() -> uuid.UUID:
    """A new execution's id: a UUIDv7 (RFC 9562), its first 48 bits the time in ms and the
    rest random (74 bits). Ids in time order make each INSERT add to the end of the primary
    key's index; a random UUIDv4 landed on a random page of it, which a long history no
    longer keeps in memory (SQLite, 150,000 rows: an INSERT 215 -> 176 us of CPU)."""
    return uuid.UUID(int=uuid6.uuid7().int)  # the standard class: pickled and compared as any UUID


class ToolExecution(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCESS = "success", "Success"
        ERROR = "error", "Error"
        TIMEOUT = "timeout", "Timeout"
        CANCELLED = "cancelled", "Cancelled"
        # Waiting for its MCP client's answers (elicitation, sampling, roots): no process
        # runs it; the answers resume it (see services.execute_tool's ``resume``).
        INPUT_REQUIRED = "input_required", "Waiting for input"

    FINAL_STATUSES = (Status.SUCCESS, Status.ERROR, Status.TIMEOUT, Status.CANCELLED)

    id = models.UUIDField(primary_key=True, default=execution_id, editable=False)
    tool_name = models.CharField(max_length=200)
    # The remote MCP server that answered, for federated tools; blank for built-ins.
    server = models.CharField(max_length=100, blank=True, default="")
    # No index of its own (db_index=False) on user, session and parent: each index is
    # written by every call's INSERT, and these are served by the indexes in Meta, which
    # lead with the same column (and the few sub-calls have a partial index).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="tool_executions",
        db_index=False,
    )
    session = models.ForeignKey(
        Session, null=True, blank=True, on_delete=models.SET_NULL, related_name="executions", db_index=False
    )
    via = models.CharField(max_length=8, choices=Via.choices)
    # The call that ran this one through ctx.call_tool (a sub-call); null for a door's call.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children", editable=False,
        db_index=False,
    )
    arguments = StoredJSONField(default=dict, blank=True)
    result = StoredJSONField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    mode = models.CharField(max_length=16, default="inline")
    cache_hit = models.BooleanField(default=False)
    progress = models.FloatField(null=True, blank=True)
    progress_total = models.FloatField(null=True, blank=True)
    progress_message = models.CharField(max_length=500, blank=True, default="")
    # While input_required: the open questions to the client, {key: {"method", "params"}};
    # and the answers given so far, {key: result}, which the next run of the tool reads.
    input_requests = StoredJSONField(null=True, blank=True)
    input_responses = StoredJSONField(default=dict, blank=True)
    # An MCP task (the tasks extension): how long, in ms, its client may read it after it
    # was created; null for a plain call.
    task_ttl_ms = models.PositiveBigIntegerField(null=True, blank=True)
    # The tool failed unexpectedly (an exception other than ToolError), not by reporting an
    # error: a task reports this as "failed", a reported error as a completed isError result.
    crashed = models.BooleanField(default=False)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    # Not auto_now_add: an inline call is created and started at one instant, which the
    # service passes for both (auto_now_add would stamp `created` after `started`).
    created = models.DateTimeField(default=timezone.now, editable=False)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    # Counted into ToolCallHour (executions.rollup) once final: the dashboard reads the
    # hours and only the rows not yet counted, whatever the history holds.
    rolled_up = models.BooleanField(default=False, editable=False)

    class Meta:
        ordering = ["-created"]
        indexes = [
            # The rows not yet rolled up: few, whatever the history holds.
            models.Index(fields=["created"], condition=models.Q(rolled_up=False), name="execution_not_rolled_up"),
            models.Index(fields=["tool_name", "-created"]),
            models.Index(fields=["tool_name", "status", "-created"]),  # the lists' usual filter pair
            models.Index(fields=["status", "-created"]),
            models.Index(fields=["via", "-created"]),
            models.Index(fields=["user", "-created"]),
            models.Index(fields=["session", "-created"]),  # a session's page: its latest calls
            models.Index(fields=["-created"]),
            # An execution's sub-calls; a door's calls (parent NULL, nearly all) are not in it.
            models.Index(fields=["parent"], condition=models.Q(parent__isnull=False), name="execution_subcalls"),
        ]

    def __str__(self) -> str:
        return f"{self.tool_name} {self.status} ({str(self.id)[:8]})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES


class ToolCallHour(models.Model):
    """One tool's final calls created in one (UTC) hour, counted by ``executions.rollup``:
    the admin dashboard's figures without reading the executions themselves."""

    tool_name = models.CharField(max_length=200)
    hour = models.DateTimeField()
    calls = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)  # error and timeout
    # Calls per duration bucket ({"<ms>": count}), for percentiles; a bucket is the exact
    # duration under 100 ms and two significant figures above (rollup.duration_bucket).
    durations = models.JSONField(default=dict)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tool_name", "hour"], name="tool_call_hour_unique")]
        indexes = [models.Index(fields=["hour"])]

    def __str__(self) -> str:
        return f"{self.tool_name} {self.hour:%Y-%m-%d %H}:00 ({self.calls} calls)"
