from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.authentication import signed_in_user
from executions import awaiting
from executions.models import Session, ToolExecution, Via
from executions.policy import scope_require
from executions.selectors import executions_visible_to, sessions_visible_to
from executions.serializers import SessionSerializer, ToolExecutionSerializer
from executions.services import execution_cancel


class ExecutionsReadScope(BasePermission):
    """A bearer token must grant executions:read (cancelling also needs tools:call)."""

    def has_permission(self, request: Request, view: object) -> bool:
        scopes = getattr(request.auth, "scopes", None)
        scope_require(scopes=scopes, scope="executions:read")
        if getattr(view, "action", None) == "cancel":
            scope_require(scopes=scopes, scope="tools:call")
        return True


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("tool", OpenApiTypes.STR, description="Only this tool's executions."),
            OpenApiParameter("status", OpenApiTypes.STR, enum=ToolExecution.Status.values),
            OpenApiParameter("via", OpenApiTypes.STR, enum=Via.values),
        ]
    )
)
class ExecutionViewSet(viewsets.ReadOnlyModelViewSet):
    """Tool executions: users see their own, admins everyone's."""

    serializer_class = ToolExecutionSerializer
    permission_classes = [IsAuthenticated, ExecutionsReadScope]
    lookup_value_regex = "[0-9a-fA-F-]{32,36}"

    def get_queryset(self):
        qs = executions_visible_to(signed_in_user(self.request))
        params = self.request.query_params
        filters = {"tool": "tool_name", "status": "status", "via": "via"}
        for param, field in filters.items():
            if value := params.get(param):
                qs = qs.filter(**{field: value})
        if (status := params.get("status")) and status not in ToolExecution.Status.values:
            raise ValidationError({"status": f"Must be one of {', '.join(ToolExecution.Status.values)}."})
        if (via := params.get("via")) and via not in Via.values:
            raise ValidationError({"via": f"Must be one of {', '.join(Via.values)}."})
        return qs

    @extend_schema(parameters=[OpenApiParameter(
        "wait", OpenApiTypes.INT,
        description=f"Seconds (up to {awaiting.WAIT_MAX_SECONDS}) to wait for a pending or running execution to end.",
    )])
    def retrieve(self, request: Request, *args: object, **kwargs: object) -> Response:
        """An execution; with ``?wait=N``, answered when it ends or after N seconds."""
        raw = request.query_params.get("wait")
        seconds = 0
        if raw is not None:
            if not raw.isdigit() or int(raw) > awaiting.WAIT_MAX_SECONDS:
                raise ValidationError({"wait": f"Seconds: a whole number from 0 to {awaiting.WAIT_MAX_SECONDS}."})
            seconds = int(raw)
        execution = self.get_object()
        # The watch reads the row once it is open: an end in between is not missed.
        if (
            seconds
            and not execution.is_final
            and awaiting.wait_blocking(awaiting.ExecutionWatch(str(execution.pk)), seconds) is not None
        ):
            execution = self.get_object()
        return Response(self.get_serializer(execution).data)

    @extend_schema(request=None, responses=ToolExecutionSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """Cancel a pending or running execution; a finished one is returned unchanged."""
        execution = execution_cancel(execution=self.get_object(), user=signed_in_user(request))
        return Response(self.get_serializer(execution).data)


class SessionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Sessions of every door (add-in sockets, MCP sessions, API and CLI use)."""

    serializer_class = SessionSerializer
    permission_classes = [IsAuthenticated, ExecutionsReadScope]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator: no user, just the model
            return Session.objects.none()
        return sessions_visible_to(signed_in_user(self.request))
