from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from accounts.authentication import signed_in_user
from executions import awaiting
from executions.models import Session, ToolExecution, Via
from executions.policy import ToolNotFound, tools_for_user
from executions.serializers import ExecuteRequestSerializer, ToolExecutionSerializer
from executions.services import CallHooks, execute_tool, session_for_client
from mcpsite import client_gone
from tools.base import Mode, Tool


class ToolSerializer(serializers.Serializer):
    name = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    input_schema = serializers.JSONField()
    output_schema = serializers.JSONField(allow_null=True)
    annotations = serializers.JSONField()
    mode = serializers.CharField()
    # A declared field; the serializer's metaclass takes it off the class, so it does not
    # shadow Field.source as the stubs assume.
    source = serializers.CharField()  # type: ignore[assignment]
    available = serializers.BooleanField()


def request_scopes(request: Request) -> frozenset[str] | None:
    """The scopes of the request's bearer token; None (unrestricted) for a browser session."""
    return getattr(request.auth, "scopes", None)


def _visible_tool(request: Request, name: str) -> Tool:
    for tool in tools_for_user(signed_in_user(request), scopes=request_scopes(request)):
        if tool.name == name:
            return tool
    raise ToolNotFound(f"Unknown tool: {name!r}.")


def api_session(request: Request) -> Session:
    """One API session per token (or per browser login), reused across calls."""
    auth = request.auth
    key = f"token:{auth.token_key}" if hasattr(auth, "token_key") else f"login:{request.session.session_key or ''}"
    return session_for_client(
        user=signed_in_user(request), kind=Session.Kind.API, client=key,
        client_info={"user_agent": request.headers.get("User-Agent", "")[:200]},
    )


class ToolListView(APIView):
    """Every tool you may call, with its JSON Schemas and MCP annotations."""

    @extend_schema(responses=ToolSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(
            [tool.describe() for tool in tools_for_user(signed_in_user(request), scopes=request_scopes(request))]
        )


class ToolDetailView(APIView):
    @extend_schema(responses={200: ToolSerializer, 404: OpenApiResponse(description="Unknown tool")})
    def get(self, request: Request, name: str) -> Response:
        return Response(_visible_tool(request, name).describe())


class ToolExecuteView(APIView):
    """Run a tool. Inline tools answer 200 with the finished execution; background
    tools answer 202 with the execution's URL (GET it with ``?wait=N`` to wait for the
    end), or, with ``Prefer: wait=N`` (RFC 7240, N up to 60), 200 with the finished
    execution when it ends within N seconds (``Preference-Applied: wait=N``)."""

    @extend_schema(
        request=ExecuteRequestSerializer,
        responses={
            200: ToolExecutionSerializer,
            202: ToolExecutionSerializer,
            400: OpenApiResponse(description="Invalid arguments"),
            403: OpenApiResponse(description="The token lacks the tools:call scope"),
            404: OpenApiResponse(description="Unknown tool"),
            429: OpenApiResponse(description="Rate limited (see Retry-After)"),
        },
    )
    def post(self, request: Request, name: str) -> Response:
        body = ExecuteRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        wait = awaiting.prefer_wait(request.headers.get("Prefer"))
        watch: list[awaiting.ExecutionWatch] = []

        def on_created(execution: ToolExecution) -> None:
            found = awaiting.watch_for_worker(execution) if wait else None
            if found is not None:
                # Watch the worker's events before the task is sent, so that none is missed.
                found.open_blocking()
                watch.append(found)

        try:
            execution = execute_tool(
                user=signed_in_user(request), tool_name=name, arguments=body.validated_data["arguments"], via=Via.API,
                session=api_session(request), scopes=request_scopes(request), hooks=CallHooks(
                    on_created=on_created,
                    # An inline call whose client disconnects is cancelled, not run for nobody.
                    cancel_event=client_gone.event_for(request._request),
                ),
            )
        except BaseException:
            for w in watch:
                w.stop()
            raise
        # A watch is opened only when the client asked to wait.
        waited = (
            bool(watch) and wait is not None and awaiting.wait_blocking(watch[0], wait, known=execution) is not None
        )
        if waited:
            execution = ToolExecution.objects.get(pk=execution.pk)  # the whole row, as it ended
        data: dict[str, Any] = ToolExecutionSerializer(execution, context={"request": request}).data
        if execution.mode == Mode.BACKGROUND and not waited:
            url = reverse("api:execution-detail", args=[execution.id], request=request)
            return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": url})
        return Response(data, headers={"Preference-Applied": f"wait={wait}"} if waited else None)
